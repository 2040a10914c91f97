import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pipelineWindowSeconds, warningTimes } from '../../../bench/window-warning.js';
import { buildEvent } from '../../../infra/sim/events.js';

describe('window benchmark: the warning issued, delivered, and the deadline', () => {
  test('delivered late: issued a whole second, delivered exactly that late, the deadline 120 s after issue', () => {
    const now = Date.parse('2026-12-01T13:00:00.400Z');
    const t = warningTimes(now, 45);
    assert.equal(t.issuedAt, Date.parse('2026-12-01T12:59:16.000Z'));
    assert.equal(t.deliveredAt, Date.parse('2026-12-01T13:00:01.000Z'));
    assert.equal(t.deadline, Date.parse('2026-12-01T13:01:16.000Z'));
    assert.ok(t.deliveredAt >= now, 'never delivered before it is asked for');
  });

  test("the event's time is the issue time the figures use, to the millisecond", () => {
    const t = warningTimes(Date.parse('2026-12-01T13:00:00.999Z'), 0);
    assert.equal(t.deliveredAt, t.issuedAt);
    const event = buildEvent('spot-interruption', { instanceId: 'i-1', time: new Date(t.issuedAt) }) as {
      time: string;
    };
    // The listener's deadline is this time + 120 s; a fraction of a second here would skew every margin.
    assert.equal(Date.parse(event.time), t.issuedAt);
    assert.equal(Date.parse(event.time) + 120_000, t.deadline);
  });

  test('the window from delivery to the cut-off shrinks by the delay; none left is refused', () => {
    assert.equal(pipelineWindowSeconds(85, 0), 85);
    assert.equal(pipelineWindowSeconds(85, 45), 40);
    assert.throws(() => pipelineWindowSeconds(85, 85), /under the 85 s/);
    assert.throws(() => pipelineWindowSeconds(85, -1), /at least 0/);
    assert.throws(() => pipelineWindowSeconds(85, Number.NaN), /at least 0/);
  });
});
