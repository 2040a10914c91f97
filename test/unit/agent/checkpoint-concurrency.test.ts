import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConcurrencyTimeline } from '../../../services/agent/checkpoint-concurrency.js';

describe('checkpoint concurrency timeline', () => {
  test('the mean number of checkpoints that ran over a span, from the changes of the slots', () => {
    let now = 0;
    const t = new ConcurrencyTimeline(() => now);
    assert.equal(t.meanBetween(0, 10_000), 1, 'nothing counted yet: alone');
    t.set(1);
    now = 2_000;
    t.set(2);
    now = 6_000;
    t.set(1);
    now = 8_000;
    t.set(0);
    // 0-2 s one, 2-6 s two, 6-8 s one: 12 checkpoint-seconds in 8 s.
    assert.equal(t.meanBetween(0, 8_000), 1.5);
    assert.equal(t.meanBetween(2_000, 6_000), 2);
    assert.equal(t.meanBetween(4_000, 7_000), (2 * 2 + 1) / 3);
    assert.equal(t.meanBetween(8_000, 10_000), 1, 'never below one: the checkpoint asked about ran');
    now = 9_000;
    t.set(2);
    now = 9_000;
    t.set(1);
    assert.equal(t.meanBetween(9_000, 11_000), 1, 'the last change at the same moment stands');
  });

  test('forgets what is older than it keeps, and reads it as nothing running', () => {
    let now = 0;
    const t = new ConcurrencyTimeline(() => now, 10_000);
    t.set(2);
    now = 50_000;
    t.set(1);
    now = 60_000;
    t.set(1);
    now = 70_000;
    t.set(0);
    assert.equal(t.meanBetween(60_000, 70_000), 1);
    // Two ran from 0 to 50 s, but that is forgotten: counted as none, never as everything since the start.
    assert.equal(t.meanBetween(40_000, 70_000), 1);
  });
});
