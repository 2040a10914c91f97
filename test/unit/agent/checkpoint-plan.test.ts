import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { planCheckpoints, type WaitingCheckpoint } from '../../../services/agent/checkpoint-plan.js';

const c = (id: string, durationMs: number, cutoff = 100_000, workMs = 0): WaitingCheckpoint => ({
  id,
  durationMs,
  cutoff,
  workMs,
});

describe('checkpoint plan', () => {
  test('one slot, a common cut-off: shortest first stores the most archives, the longest is refused', () => {
    const plan = planCheckpoints({
      now: 0,
      slots: 1,
      runningEnds: [],
      // Arrival order is largest first: in that order only the 60 s one would be stored before 100 s.
      waiting: [c('big', 60_000), c('mid', 30_000), c('small-a', 20_000), c('small-b', 20_000)],
    });
    assert.deepEqual(
      plan.run.map((p) => [p.id, p.storedAt]),
      [
        ['small-a', 20_000],
        ['small-b', 40_000],
        ['mid', 70_000],
      ],
    );
    assert.deepEqual(plan.refused, ['big']);
  });

  test('slots: each checkpoint takes the first free one, after the running checkpoints end', () => {
    const plan = planCheckpoints({
      now: 1000,
      slots: 2,
      runningEnds: [11_000, 500 /* already over its estimate: ends now at the earliest */],
      waiting: [c('a', 5_000), c('b', 5_000), c('c', 5_000)],
    });
    assert.deepEqual(
      plan.run.map((p) => [p.id, p.startAt, p.storedAt]),
      [
        ['a', 1000, 6000],
        ['b', 6000, 11_000],
        ['c', 11_000, 16_000],
      ],
    );
    assert.deepEqual(plan.refused, []);
  });

  test('on equal size, the pod whose drain would lose more work is saved', () => {
    const plan = planCheckpoints({
      now: 0,
      slots: 1,
      runningEnds: [],
      waiting: [c('young', 40_000, 50_000, 1_000), c('old', 40_000, 50_000, 3_600_000)],
    });
    assert.deepEqual(
      plan.run.map((p) => p.id),
      ['old'],
    );
    assert.deepEqual(plan.refused, ['young']);
  });

  test('earliest cut-off first; a longer checkpoint taken earlier is dropped when it makes a later one late', () => {
    const plan = planCheckpoints({
      now: 0,
      slots: 1,
      runningEnds: [],
      waiting: [c('long-early', 50_000, 60_000), c('s1', 10_000, 70_000), c('s2', 10_000, 70_000)],
    });
    assert.deepEqual(plan.refused, []);
    const late = planCheckpoints({
      now: 0,
      slots: 1,
      runningEnds: [],
      waiting: [c('long-early', 55_000, 60_000), c('s1', 10_000, 70_000), c('s2', 10_000, 70_000)],
    });
    assert.deepEqual(
      late.run.map((p) => p.id),
      ['s1', 's2'],
      'two short ones stored instead of the long one and one short',
    );
    assert.deepEqual(late.refused, ['long-early']);
  });

  test('a checkpoint that cannot fit even alone is refused, and nothing else is', () => {
    const plan = planCheckpoints({
      now: 0,
      slots: 1,
      runningEnds: [90_000],
      waiting: [c('a', 5_000), c('b', 20_000)],
    });
    assert.deepEqual(
      plan.run.map((p) => p.id),
      ['a'],
    );
    assert.deepEqual(plan.refused, ['b']);
  });

  test('stores as many as an exhaustive search over every subset and order, on small random cases', () => {
    let seed = 7;
    const rand = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let round = 0; round < 200; round++) {
      const n = 1 + Math.floor(rand() * 6);
      const waiting = Array.from({ length: n }, (_, i) =>
        c(`p${i}`, 1000 + Math.floor(rand() * 30) * 1000, 60_000 + Math.floor(rand() * 3) * 10_000),
      );
      const plan = planCheckpoints({ now: 0, slots: 1, runningEnds: [], waiting, admissionFactor: 1 });
      assert.equal(plan.run.length + plan.refused.length, n);
      for (const p of plan.run) {
        const w = waiting.find((x) => x.id === p.id) as WaitingCheckpoint;
        assert.ok(p.storedAt <= w.cutoff, `${p.id} is stored before its cut-off`);
      }
      assert.equal(plan.run.length, bestOnOneSlot(waiting), JSON.stringify(waiting));
    }
  });
});

describe('checkpoint plan: the admission margin', () => {
  const accepted = (id: string, durationMs: number, cutoff = 100_000): WaitingCheckpoint => ({
    ...c(id, durationMs, cutoff),
    accepted: true,
  });

  test('a new checkpoint is admitted only if it is on time with every duration times the factor', () => {
    // 30 s running (20 s left) + 40 s: stored at 60 s; 1.25x slower: 25 + 50 = 75 s.
    const input = { now: 10_000, slots: 1, runningEnds: [30_000], admissionFactor: 1.25 };
    const fits = planCheckpoints({ ...input, waiting: [c('new', 40_000, 85_000)] });
    assert.deepEqual(fits.refused, [], 'on time at 75 s with the margin, cut-off 85 s');
    assert.equal(fits.run[0]?.storedAt, 70_000, 'planned at the estimate itself, not the padded one');
    const byLuck = planCheckpoints({ ...input, waiting: [c('new', 40_000, 80_000)] });
    assert.deepEqual(
      byLuck.refused,
      ['new'],
      'on time at the estimate (70 s) but not with the margin (85 s)',
    );
    assert.deepEqual(byLuck.refusals, [{ id: 'new', storedAt: 85_000, slower: 1.25 }]);
  });

  test('an accepted checkpoint is kept when the rate falls within the margin', () => {
    // Admitted at 40 s for 75 s (60 s with the margin); the rate falls 1.2x: 48 s, still on time.
    const plan = planCheckpoints({
      now: 0,
      slots: 1,
      runningEnds: [],
      admissionFactor: 1.25,
      waiting: [accepted('a', 48_000, 75_000)],
    });
    assert.deepEqual(plan.refused, []);
    assert.equal(plan.run[0]?.storedAt, 48_000);
    const asNew = planCheckpoints({
      now: 0,
      slots: 1,
      runningEnds: [],
      admissionFactor: 1.25,
      waiting: [c('a', 48_000, 55_000)],
    });
    assert.deepEqual(asNew.refused, ['a'], 'the same checkpoint arriving now would be refused');
  });

  test('an accepted checkpoint is dropped once the rate falls beyond the margin', () => {
    const plan = planCheckpoints({
      now: 0,
      slots: 1,
      runningEnds: [],
      admissionFactor: 1.25,
      waiting: [accepted('a', 76_000, 75_000)],
    });
    assert.deepEqual(plan.refusals, [{ id: 'a', storedAt: 76_000, slower: 1 }]);
  });

  test("a newcomer's margin never drops an accepted checkpoint whose margin a slower rate used up", () => {
    // 'old' fits at its estimate (80 s) but not with the margin (100 s): the rate fell after it was accepted.
    // With it, the newcomer is on time at the estimate (85 s) but not with the margin (106.25 s). Moore-Hodgson
    // would drop the longest, 'old', late in its window; the newcomer is refused instead.
    const plan = planCheckpoints({
      now: 0,
      slots: 1,
      runningEnds: [],
      admissionFactor: 1.25,
      waiting: [accepted('old', 80_000, 90_000), c('new', 5_000, 100_000)],
    });
    assert.deepEqual(plan.refused, ['new']);
    assert.deepEqual(
      plan.run.map((p) => p.id),
      ['old'],
    );
  });

  test("an arrival that would eat an accepted checkpoint's intact margin displaces the longer one now", () => {
    // Shorter first: 'new' at 37.5 s, 'old' at 100 s with the margin (> 90 s), though 80 s at the estimate.
    // Kept, 'old' would be dropped later by any fall in the rate beyond 1.125x; it gives way now instead.
    const plan = planCheckpoints({
      now: 0,
      slots: 1,
      runningEnds: [],
      admissionFactor: 1.25,
      waiting: [accepted('old', 50_000, 90_000), c('new', 30_000, 90_000)],
    });
    assert.deepEqual(plan.refusals, [{ id: 'old', storedAt: 100_000, slower: 1.25 }]);
    assert.deepEqual(
      plan.run.map((p) => p.id),
      ['new'],
    );
  });

  test('the margin slows what is left of a running checkpoint, not what it has done', () => {
    // Started long ago, 10 s left: 1.5x slower leaves 15 s, then 20 s x 1.5 = 30 s: stored at 45 s.
    const plan = planCheckpoints({
      now: 0,
      slots: 1,
      runningEnds: [10_000],
      admissionFactor: 1.5,
      waiting: [c('new', 20_000, 45_000)],
    });
    assert.deepEqual(plan.refused, []);
    const late = planCheckpoints({
      now: 0,
      slots: 1,
      runningEnds: [10_000],
      admissionFactor: 1.5,
      waiting: [c('new', 20_000, 44_999)],
    });
    assert.deepEqual(late.refused, ['new']);
  });
});

/** The most checkpoints one slot can store in time: any on-time set is on time in cut-off order. */
function bestOnOneSlot(all: WaitingCheckpoint[]): number {
  let best = 0;
  for (let mask = 0; mask < 1 << all.length; mask++) {
    const set = all.filter((_, i) => mask & (1 << i)).sort((a, b) => a.cutoff - b.cutoff);
    let t = 0;
    const onTime = set.every((x) => {
      t += x.durationMs;
      return t <= x.cutoff;
    });
    if (onTime) best = Math.max(best, set.length);
  }
  return best;
}
