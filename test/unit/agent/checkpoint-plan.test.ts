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
      running: [],
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

  test('slots share the node: two at once each go at half its rate, one alone at all of it', () => {
    const plan = planCheckpoints({
      now: 1000,
      slots: 2,
      // 10 s of the node to itself left, and one already over its estimate: ends now.
      running: [{ dataLeftMs: 10_000 }, { dataLeftMs: 0 }],
      waiting: [c('a', 5_000), c('b', 5_000), c('c', 5_000)],
    });
    // a shares with the running one: its 5 s take 10 s. Then b shares the rest of the running one's
    // 5 s: 10 s for both. Then c alone: 5 s.
    assert.deepEqual(
      plan.run.map((p) => [p.id, p.startAt, p.storedAt]),
      [
        ['a', 1000, 11_000],
        ['b', 11_000, 21_000],
        ['c', 21_000, 26_000],
      ],
    );
    assert.deepEqual(plan.runningEnds, [21_000, 1000]);
    assert.deepEqual(plan.refused, []);
  });

  test('the fixed overhead runs beside the others: it holds a slot but takes none of the rate', () => {
    const plan = planCheckpoints({
      now: 0,
      slots: 2,
      running: [],
      overheadMs: 1000,
      // 1 s of overhead, then 4 s of the node to itself each.
      waiting: [c('a', 5_000), c('b', 5_000)],
    });
    // Both overheads at once (1 s), then 8 s sharing: 9 s, where one slot each at the whole rate said 5 s
    // and one after another 10 s.
    assert.deepEqual(
      plan.run.map((p) => [p.id, p.storedAt]),
      [
        ['a', 9000],
        ['b', 9000],
      ],
    );
    const oneSlot = planCheckpoints({
      now: 0,
      slots: 1,
      running: [],
      overheadMs: 1000,
      waiting: [c('a', 5_000), c('b', 5_000)],
    });
    assert.deepEqual(
      oneSlot.run.map((p) => p.storedAt),
      [5000, 10_000],
    );
  });

  test("the last of a node's checkpoints is planned at the whole rate once it runs alone (bench:window at 0.8x)", () => {
    // Two slots, a common cut-off: small ones, a mid one, then the large one that runs alone at the end.
    const waiting = [c('s1', 4_000), c('s2', 4_000), c('mid', 20_000), c('large', 32_000)];
    const plan = planCheckpoints({
      now: 0,
      slots: 2,
      running: [],
      waiting: waiting.map((w) => ({ ...w, cutoff: 61_000 })),
    });
    // All of the node's work is 60 s: shared or not, the last ends when it is done.
    assert.deepEqual(plan.refused, []);
    assert.equal(Math.max(...plan.run.map((p) => p.storedAt)), 60_000);
  });

  test('on equal size, the pod whose drain would lose more work is saved', () => {
    const plan = planCheckpoints({
      now: 0,
      slots: 1,
      running: [],
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
      running: [],
      waiting: [c('long-early', 50_000, 60_000), c('s1', 10_000, 70_000), c('s2', 10_000, 70_000)],
    });
    assert.deepEqual(plan.refused, []);
    const late = planCheckpoints({
      now: 0,
      slots: 1,
      running: [],
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
      running: [{ dataLeftMs: 90_000 }],
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
      const plan = planCheckpoints({ now: 0, slots: 1, running: [], waiting, admissionFactor: 1 });
      assert.equal(plan.run.length + plan.refused.length, n);
      for (const p of plan.run) {
        const w = waiting.find((x) => x.id === p.id) as WaitingCheckpoint;
        assert.ok(p.storedAt <= w.cutoff, `${p.id} is stored before its cut-off`);
      }
      assert.equal(plan.run.length, bestOnOneSlot(waiting), JSON.stringify(waiting));
    }
  });
});

describe('checkpoint plan: one checkpoint cannot use the whole node', () => {
  test('the last of two, alone, goes at the single rate: 100 MiB/s in all, at most 60 for one', () => {
    // At 100 MiB/s: 'a' is 200 MiB, 'b' 400 MiB. Together at 50 MiB/s each, 'a' is stored at 4 s with 200 MiB
    // of 'b' left; alone at 60 MiB/s (not 100) they take 3.33 s: 7.33 s, where the whole rate said 6 s.
    const input = { now: 1000, slots: 2, running: [], waiting: [c('a', 2000), c('b', 4000)] };
    const capped = planCheckpoints({ ...input, singleShare: 0.6 });
    assert.deepEqual(
      capped.run.map((p) => [p.id, p.startAt, Math.round(p.storedAt)]),
      [
        ['a', 1000, 5000],
        ['b', 1000, 1000 + 4000 + Math.round((200 / 60) * 1000)],
      ],
    );
    assert.equal(planCheckpoints(input).run[1]?.storedAt, 7000, 'without it, at the whole rate');
  });

  test('each goes at the smaller of its share and the single rate: three sharing are not held, two are', () => {
    // The single rate is 3/8 of the node's: above a third, below a half.
    const plan = planCheckpoints({
      now: 0,
      slots: 3,
      running: [],
      singleShare: 0.375,
      waiting: [c('a', 1000), c('b', 2500), c('c', 4000)],
    });
    // Three at a third each: 'a' at 3 s, 1500 ms of the node left to 'b' and 3000 to 'c'. Then two, each held
    // to 3/8: 'b' at 3 + 4 = 7 s, 1500 left to 'c'; alone, still 3/8: 'c' at 11 s.
    assert.deepEqual(
      plan.run.map((p) => [p.id, p.storedAt]),
      [
        ['a', 3000],
        ['b', 7000],
        ['c', 11_000],
      ],
    );
  });

  test('a running checkpoint alone, and the margin: the single rate is a share of the node, slowed with it', () => {
    const input = {
      now: 0,
      slots: 1,
      running: [{ overheadLeftMs: 500, dataLeftMs: 1000 }],
      waiting: [c('new', 3000, 12_000)],
      overheadMs: 1000,
      singleShare: 0.5,
    };
    // Running: 0.5 s overhead, then 1 s of the node at half: 2.5 s. 'new': 1 s overhead, 2 s of the node at half.
    const plan = planCheckpoints(input);
    assert.deepEqual(plan.runningEnds, [2500]);
    assert.equal(plan.run[0]?.storedAt, 7500);
    // 1.5x slower: 3.75 s, then 1.5 + 6 s: 11.25 s, inside 12 s; at 1.7x, 12.75 s is not.
    assert.deepEqual(planCheckpoints({ ...input, admissionFactor: 1.5 }).refused, []);
    assert.deepEqual(planCheckpoints({ ...input, admissionFactor: 1.7 }).refusals, [
      { id: 'new', storedAt: 12_750, slower: 1.7 },
    ]);
  });

  test('a single rate at or above the whole node changes nothing, on random cases', () => {
    let seed = 11;
    const rand = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let round = 0; round < 100; round++) {
      const input = {
        now: 0,
        slots: 1 + Math.floor(rand() * 3),
        running:
          rand() < 0.5 ? [] : [{ overheadLeftMs: Math.floor(rand() * 1000), dataLeftMs: rand() * 20_000 }],
        waiting: Array.from({ length: 1 + Math.floor(rand() * 5) }, (_, i) =>
          c(`p${i}`, 1000 + Math.floor(rand() * 30) * 1000, 30_000 + Math.floor(rand() * 3) * 10_000),
        ),
        overheadMs: 500,
        admissionFactor: 1.25,
        atRiskShare: 0.25,
      };
      const plain = planCheckpoints(input);
      assert.deepEqual(planCheckpoints({ ...input, singleShare: 1 }), plain);
      assert.deepEqual(planCheckpoints({ ...input, singleShare: 3 }), plain);
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
    const input = { now: 10_000, slots: 1, running: [{ dataLeftMs: 20_000 }], admissionFactor: 1.25 };
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
      running: [],
      admissionFactor: 1.25,
      waiting: [accepted('a', 48_000, 75_000)],
    });
    assert.deepEqual(plan.refused, []);
    assert.equal(plan.run[0]?.storedAt, 48_000);
    const asNew = planCheckpoints({
      now: 0,
      slots: 1,
      running: [],
      admissionFactor: 1.25,
      waiting: [c('a', 48_000, 55_000)],
    });
    assert.deepEqual(asNew.refused, ['a'], 'the same checkpoint arriving now would be refused');
  });

  test('an accepted checkpoint is dropped once the rate falls beyond the margin', () => {
    const plan = planCheckpoints({
      now: 0,
      slots: 1,
      running: [],
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
      running: [],
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
      running: [],
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
      running: [{ dataLeftMs: 10_000 }],
      admissionFactor: 1.5,
      waiting: [c('new', 20_000, 45_000)],
    });
    assert.deepEqual(plan.refused, []);
    const late = planCheckpoints({
      now: 0,
      slots: 1,
      running: [{ dataLeftMs: 10_000 }],
      admissionFactor: 1.5,
      waiting: [c('new', 20_000, 44_999)],
    });
    assert.deepEqual(late.refused, ['new']);
  });
});

describe('checkpoint plan: tentative admission', () => {
  const accepted = (id: string, durationMs: number, cutoff = 100_000, atRisk = false): WaitingCheckpoint => ({
    ...c(id, durationMs, cutoff),
    accepted: true,
    atRisk,
  });
  // One slot, a 25 s checkpoint running with 5 s left; 'new' needs 40 s and its cut-off is 50 s: on time at the
  // estimate (45 s), not 1.25x slower (56.25 s).
  const input = { now: 0, slots: 1, running: [{ dataLeftMs: 5_000 }], admissionFactor: 1.25 };

  test('a new checkpoint that fits only without the margin is accepted at risk when the node will know soon', () => {
    const plan = planCheckpoints({ ...input, atRiskShare: 0.2, waiting: [c('new', 40_000, 50_000)] });
    assert.deepEqual(plan.refused, []);
    assert.deepEqual(
      plan.atRisk,
      ['new'],
      'the running one ends at 5 s, inside a fifth of the 50 s to its cut-off',
    );
    assert.equal(plan.run[0]?.storedAt, 45_000);
  });

  test('refused as before when no checkpoint ends within the window, or there is no window', () => {
    const late = planCheckpoints({ ...input, atRiskShare: 0.08, waiting: [c('new', 40_000, 50_000)] });
    assert.deepEqual(late.refusals, [{ id: 'new', storedAt: 56_250, slower: 1.25 }]);
    assert.deepEqual(late.atRisk, []);
    const none = planCheckpoints({ ...input, waiting: [c('new', 40_000, 50_000)] });
    assert.deepEqual(none.refused, ['new']);
  });

  test('one that does not fit at the estimate is refused, window or not', () => {
    const plan = planCheckpoints({ ...input, atRiskShare: 0.2, waiting: [c('new', 46_000, 50_000)] });
    assert.deepEqual(plan.refusals, [{ id: 'new', storedAt: 51_000, slower: 1 }]);
  });

  test('at-risk ones give way first when the node turns out slower, even if longer ones are safe', () => {
    // 'safe' (30 s) was admitted with the margin; 'risky' (10 s) at risk. At the rate now measured they need
    // 35 s + 20 s: one must go. Moore-Hodgson would drop the longer, safe one, late in its window.
    const plan = planCheckpoints({
      now: 0,
      slots: 1,
      running: [],
      admissionFactor: 1.25,
      atRiskShare: 0.2,
      waiting: [accepted('safe', 35_000, 50_000), accepted('risky', 20_000, 50_000, true)],
    });
    assert.deepEqual(plan.refusals, [{ id: 'risky', storedAt: 20_000, slower: 1 }]);
    assert.deepEqual(
      plan.run.map((p) => p.id),
      ['safe'],
    );
    assert.deepEqual(plan.atRisk, []);
    const noneAtRisk = planCheckpoints({
      now: 0,
      slots: 1,
      running: [],
      waiting: [accepted('safe', 35_000, 50_000), accepted('risky', 20_000, 50_000)],
    });
    assert.deepEqual(noneAtRisk.refused, ['safe'], 'without the flag, the longest goes');
  });

  test("the others' margin is judged without those at risk: a later arrival that fits with it beside them is admitted", () => {
    // 'risky' (30 s) sits at risk; 'small' (10 s) fits with the margin (12.5 s) before it, but not after.
    const plan = planCheckpoints({
      now: 0,
      slots: 1,
      running: [],
      admissionFactor: 1.25,
      waiting: [accepted('risky', 30_000, 45_000, true), c('small', 10_000, 45_000)],
    });
    assert.deepEqual(plan.refused, []);
    assert.deepEqual(plan.atRisk, ['risky'], 'still at risk: nothing new about it');
    assert.deepEqual(
      plan.run.map((p) => [p.id, p.storedAt]),
      [
        ['small', 10_000],
        ['risky', 40_000],
      ],
    );
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
