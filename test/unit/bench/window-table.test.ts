import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type RunRow, tableRow } from '../../../bench/window-table.js';

const run: RunRow = {
  run: 2,
  pods: 10,
  memoryMiB: 4463,
  warning: { deliveredLateSeconds: 45 },
  capacity: { oneNodeMiBps: 68.58, allNodesMiBps: 55.8 },
  offeredLoad: 2.001,
  oracle: 7,
  restoredBeforeDeadline: 6,
  drainedDecidedFromDeliverySeconds: { p50: 4.042, max: 19.195, count: 4 },
  lost: 0,
  processesContinued: 6,
  marginSeconds: { p50: 56.874, p99: 50.915 },
  aggregateMiBps: 46.1,
  uploadWindowSecondsFromDelivery: 24.1,
  loadAverage: [19.11, 15.73, 11.68],
};

describe("window benchmark: the README's rows from the benchmark's JSON", () => {
  test('a row carries the run, the delivery delay, restored against the oracle and the pods, and the margins', () => {
    assert.equal(
      tableRow(run),
      '| 2 | 2.00x | 45 s | 4,463 MiB | 55.8 MiB/s (68.6) | 6 of 7 (85.7 %) | not measured | 6 of 10 | 4, p50 4.0 s, max 19.2 s | 0 | 56.9 s / 50.9 s | 46.1 MiB/s over 24.1 s | not logged | 19.1 15.7 11.7 |',
    );
  });

  test("a node uplink and the oracle at the burst's own rate, when the run has them", () => {
    const row = tableRow({
      ...run,
      capacity: { ...run.capacity, nodeUplinkMiBps: 8 },
      oracleAtBurstRate: 6,
      burstMiBps: 41.26,
    });
    assert.match(
      row,
      /\| 55\.8 MiB\/s \(68\.6\); uplink 8\.0 MiB\/s a node \| 6 of 7 \(85\.7 %\) \| 6 at 41\.3 MiB\/s \| 6 of 10 \|/,
    );
  });

  test('no drained pod, and no archive stored (NaN, written to JSON as null), read as none', () => {
    const row = tableRow({
      ...run,
      drainedDecidedFromDeliverySeconds: { p50: null, max: null, count: 0 },
      marginSeconds: { p50: null, p99: null },
      aggregateMiBps: null,
      uploadWindowSecondsFromDelivery: null,
    });
    assert.match(row, /\| 6 of 10 \| none \| 0 \| none \/ none \| none \|/);
  });

  test("the agents' decisions: refused and dropped, then the checkpoints at risk kept and dropped", () => {
    const row = tableRow({
      ...run,
      admissions: {
        counts: { refused: 3, dropped: 1, 'dropped-at-risk': 1 },
        atRisk: [{ end: 'confirmed' }, {}, { end: 'dropped-at-risk' }],
      },
    });
    assert.match(row, /\| 3, 2; 2 \/ 1 \| 19\.1 /);
  });
});
