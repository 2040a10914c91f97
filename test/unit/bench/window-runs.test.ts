import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type RunFigures, summarizeRuns, targetFor, targetMisses } from '../../../bench/window-runs.js';

const run = (o: Partial<RunFigures> = {}): RunFigures => ({
  offeredLoad: 0.8,
  pods: 10,
  oracle: 10,
  restoredBeforeDeadline: 10,
  lost: 0,
  marginSeconds: { p50: 90, p99: 70, min: 70 },
  drainedDecidedAfterDelivery: [],
  ...o,
});

describe("window benchmark: runs side by side against the issue's targets", () => {
  test('which target a load is held to', () => {
    assert.equal(targetFor(0.02), 'within capacity');
    assert.equal(targetFor(0.8), 'within capacity');
    assert.equal(targetFor(1), undefined);
    assert.equal(targetFor(2), 'overload');
  });

  test('within capacity: every pod restored and a p99 margin above 60 s', () => {
    assert.deepEqual(targetMisses('within capacity', run()), []);
    assert.deepEqual(targetMisses('within capacity', run({ restoredBeforeDeadline: 9, oracle: 9 })), [
      '9 of 10 restored before the deadline, not all',
    ]);
    assert.deepEqual(targetMisses('within capacity', run({ marginSeconds: { p50: 90, p99: 60, min: 60 } })), [
      'p99 margin 60.0 s, not above 60 s',
    ]);
    // Nothing stored at all has no margin, and does not pass for one.
    const none = { p50: Number.NaN, p99: Number.NaN, min: Number.NaN };
    assert.deepEqual(
      targetMisses('within capacity', run({ restoredBeforeDeadline: 0, marginSeconds: none })),
      ['0 of 10 restored before the deadline, not all', 'p99 margin NaN s, not above 60 s'],
    );
  });

  test('overload: 95 % of the oracle, none lost, every drained pod decided within 10 s of delivery', () => {
    const ok = run({
      offeredLoad: 2,
      pods: 10,
      oracle: 6,
      restoredBeforeDeadline: 6,
      drainedDecidedAfterDelivery: [1, 10],
    });
    assert.deepEqual(targetMisses('overload', ok), []);
    assert.deepEqual(
      targetMisses('overload', {
        ...ok,
        restoredBeforeDeadline: 5,
        lost: 1,
        drainedDecidedAfterDelivery: [1, 10.5, 30],
      }),
      [
        '5 restored of an oracle of 6, under 95 %',
        '1 lost',
        '2 drained pod(s) decided more than 10 s after delivery (max 30.0 s)',
      ],
    );
    assert.deepEqual(targetMisses('overload', { ...ok, oracle: 0, restoredBeforeDeadline: 0 }), [
      '0 restored of an oracle of 0, under 95 %',
    ]);
  });

  test('the summary: restored / oracle per run, the worst and best p99 margin, the least margin, runs meeting the target', () => {
    const s = summarizeRuns(
      [
        run(),
        run({ offeredLoad: 0.78, marginSeconds: { p50: 95, p99: 55, min: 41 } }),
        run({
          offeredLoad: 0.81,
          oracle: 8,
          restoredBeforeDeadline: 8,
          marginSeconds: { p50: 99, p99: 80, min: 75 },
        }),
      ],
      'within capacity',
    );
    assert.deepEqual(s.restoredOverOracle, [1, 1, 1]);
    assert.deepEqual(s.offeredLoad, { min: 0.78, max: 0.81 });
    assert.deepEqual(s.p99MarginSeconds, { min: 55, max: 80 });
    assert.equal(s.minMarginSeconds, 41);
    assert.equal(s.runsMeetingTarget, 1);
    assert.deepEqual(s.misses[1], ['p99 margin 55.0 s, not above 60 s']);
    assert.deepEqual(s.misses[2], ['8 of 10 restored before the deadline, not all']);
  });

  test('no target between 0.8x and 2x: nothing is counted as met', () => {
    const s = summarizeRuns([run({ offeredLoad: 1 })], undefined);
    assert.equal(s.target, undefined);
    assert.equal(s.runsMeetingTarget, 0);
    assert.deepEqual(s.misses, [[]]);
  });
});
