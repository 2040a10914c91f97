import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { admissionLine, admissionSummary } from '../../../bench/window-admissions.js';

const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
const line = (s: number, checkpointId: string, decision: string, memoryMiB: number, rateMiBps = 40) => ({
  msg: 'admission',
  time: at(s),
  checkpointId,
  decision,
  memoryMiB,
  rateMiBps,
  rateBasis: 'measured',
});

describe("window benchmark: the agents' admission decisions", () => {
  test('counts each decision, and follows those at risk from delivery to confirmed or dropped', () => {
    const deliveredAt = Date.parse(at(10));
    const s = admissionSummary(
      [
        line(11, 'a', 'accepted', 100),
        line(11, 'b', 'accepted-at-risk', 1500, 44),
        line(12, 'c', 'refused', 900, 38.5),
        line(12, 'd', 'accepted-at-risk', 400),
        { msg: 'container archived', time: at(13), checkpointId: 'a' },
        line(29, 'b', 'confirmed', 1500),
        line(30, 'd', 'dropped-at-risk', 400),
        // Put at risk by a later arrival: no line of its own until it ends.
        line(31, 'e', 'confirmed', 700),
      ],
      deliveredAt,
    );
    assert.deepEqual(s.counts, {
      accepted: 1,
      'accepted-at-risk': 2,
      confirmed: 2,
      refused: 1,
      dropped: 0,
      'dropped-at-risk': 1,
    });
    assert.deepEqual(s.atRisk, [
      { checkpointId: 'b', memoryMiB: 1500, acceptedAfterS: 1, end: 'confirmed', endAfterS: 19 },
      { checkpointId: 'd', memoryMiB: 400, acceptedAfterS: 2, end: 'dropped-at-risk', endAfterS: 20 },
      { checkpointId: 'e', memoryMiB: 700, end: 'confirmed', endAfterS: 21 },
    ]);
    assert.deepEqual(s.rateMiBps, { min: 38.5, max: 44 });
    assert.equal(
      admissionLine(s),
      'accepted 1, at risk 3 (1500 MiB confirmed at +19.0 s; 400 MiB dropped at +20.0 s; 700 MiB confirmed at +21.0 s), refused 1, dropped 1; planned at 38.5 to 44.0 MiB/s per node',
    );
  });

  test('none judged: all zero, no rate', () => {
    const s = admissionSummary([{ msg: 'container archived' }], 0);
    assert.equal(admissionLine(s), 'accepted 0, at risk 0, refused 0, dropped 0');
  });
});
