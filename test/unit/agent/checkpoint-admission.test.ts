import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CheckpointAdmission } from '../../../services/agent/checkpoint-admission.js';
import { CheckpointEstimate } from '../../../services/agent/checkpoint-estimate.js';
import { AgentFailure } from '../../../services/agent/errors.js';

const MiB = 2 ** 20;
const isRefusal = (e: unknown) =>
  e instanceof AgentFailure && e.code === 'would-miss-deadline' && e.httpStatus === 422;

function setUp(slots = 1) {
  let now = 0;
  const estimate = new CheckpointEstimate({ assumedBytesPerSec: 10 * MiB, overheadMs: 0 });
  const admission = new CheckpointAdmission(estimate, () => slots, { now: () => now });
  return { admission, estimate, at: (t: number) => (now = t) };
}

/** One slot, 10 MiB/s assumed, a 1.25 margin, and admission at risk within a fifth of the time to the cut-off. */
function atRisk() {
  let now = 0;
  const estimate = new CheckpointEstimate({ assumedBytesPerSec: 10 * MiB, overheadMs: 0 });
  const decisions: string[] = [];
  const admission = new CheckpointAdmission(estimate, () => 1, {
    now: () => now,
    admissionFactor: 1.25,
    // A fifth of the 50 s to the cut-off: 10 s.
    atRiskShare: 0.2,
    onDecision: (d) => decisions.push(d),
  });
  return { admission, decisions, at: (t: number) => (now = t) };
}

describe('checkpoint admission', () => {
  test('accepts with the time the archive will be stored behind the queue, refuses at once what would miss', () => {
    const { admission } = setUp();
    const a = admission.admit({ id: 'a', bytes: 100 * MiB, cutoff: 60_000 });
    assert.equal(a.estimatedStoredAt, 10_000, '100 MiB at the assumed 10 MiB/s');
    const b = admission.admit({ id: 'b', bytes: 300 * MiB, cutoff: 60_000 });
    assert.equal(b.estimatedStoredAt, 40_000, 'behind the first');
    assert.throws(() => admission.admit({ id: 'c', bytes: 300 * MiB, cutoff: 60_000 }), isRefusal);
    assert.equal(admission.estimatedStoredAt('c'), undefined, 'a refused checkpoint holds no place');
    assert.equal(a.dropped.aborted || b.dropped.aborted, false);
  });

  test('a shorter arrival displaces a longer waiting one when that stores more archives', () => {
    const { admission } = setUp();
    const big = admission.admit({ id: 'big', bytes: 500 * MiB, cutoff: 60_000 });
    const s1 = admission.admit({ id: 's1', bytes: 100 * MiB, cutoff: 60_000 });
    assert.equal(big.dropped.aborted, false);
    const s2 = admission.admit({ id: 's2', bytes: 100 * MiB, cutoff: 60_000 });
    assert.equal(big.dropped.aborted, true, 'the 50 s checkpoint gives way to two of 10 s');
    assert.ok(isRefusal(big.dropped.reason));
    assert.equal(s1.dropped.aborted || s2.dropped.aborted, false);
    assert.equal(admission.estimatedStoredAt('s2'), 20_000);
  });

  test('a running checkpoint is never dropped; measured throughput re-plans those still waiting', () => {
    const { admission, at } = setUp();
    const first = admission.admit({ id: 'first', bytes: 100 * MiB, cutoff: 60_000 });
    assert.deepEqual(admission.throughput, { bytesPerSec: 10 * MiB, basis: 'assumed' });
    first.started();
    const second = admission.admit({ id: 'second', bytes: 300 * MiB, cutoff: 60_000 });
    assert.equal(second.estimatedStoredAt, 40_000);
    // The first took 20 s, not 10: the node moves 5 MiB/s, and 300 MiB more need 60 s.
    at(20_000);
    first.finished({ bytes: 100 * MiB, ms: 20_000 });
    assert.equal(first.dropped.aborted, false);
    assert.equal(second.dropped.aborted, true, 'dropped while it still waits, before any freeze');
    assert.match((second.dropped.reason as Error).message, /5 MiB\/s measured/);
    assert.deepEqual(
      admission.throughput,
      { bytesPerSec: 5 * MiB, basis: 'measured' },
      'as the worker is told',
    );
    const third = admission.admit({ id: 'third', bytes: 100 * MiB, cutoff: 60_000 });
    assert.equal(third.estimatedStoredAt, 40_000, 'estimated at the measured throughput');
  });

  test('a running checkpoint past its estimate counts as ending now; its estimate follows', () => {
    const { admission, at } = setUp();
    const a = admission.admit({ id: 'a', bytes: 100 * MiB, cutoff: 60_000 });
    a.started();
    at(15_000);
    assert.equal(admission.estimatedStoredAt('a'), 15_000);
    a.finished();
    assert.equal(admission.estimatedStoredAt('a'), undefined);
  });

  test('ranks follow the plan: cut-off, then size, then the earliest start', () => {
    const { admission } = setUp(4);
    const r = (id: string, bytes: number, startedAt?: number) =>
      admission.admit({ id, bytes, cutoff: 60_000, startedAt }).rank;
    assert.deepEqual(r('a', 10 * MiB, -5000), [60_000, 10 * MiB, -5000]);
    assert.deepEqual(r('b', 10 * MiB), [60_000, 10 * MiB, 0], 'no start known: as if it started now');
  });
});

describe('checkpoint admission: checkpoints asked without a memory size', () => {
  test('still teach it the throughput, and the queue is planned again with it', () => {
    let now = 0;
    const estimate = new CheckpointEstimate({ assumedBytesPerSec: 10 * MiB, overheadMs: 0 });
    const admission = new CheckpointAdmission(estimate, () => 1, { now: () => now });
    const waiting = admission.admit({ id: 'w', bytes: 500 * MiB, cutoff: 60_000 });
    assert.equal(waiting.estimatedStoredAt, 50_000);
    const unadmitted = admission.unadmittedStarted('u');
    now = 1000;
    unadmitted.finished({ bytes: 100 * MiB, ms: 50_000 });
    assert.equal(waiting.dropped.aborted, true, 'at the 2 MiB/s measured, 500 MiB no longer fits');
  });
});

describe('checkpoint admission: estimates as time passes', () => {
  test('a running checkpoint past its estimate lowers the rate at once: the waiting are planned at what it proves', () => {
    let now = 0;
    const estimate = new CheckpointEstimate({ assumedBytesPerSec: 10 * MiB, overheadMs: 0 });
    const admission = new CheckpointAdmission(estimate, () => 1, { now: () => now });
    const first = admission.admit({ id: 'first', bytes: 100 * MiB, cutoff: 60_000 });
    first.started();
    const second = admission.admit({ id: 'second', bytes: 200 * MiB, cutoff: 60_000 });
    assert.equal(second.estimatedStoredAt, 30_000);
    // The first should have ended at 10 s and still runs: the node moves at most 100 MiB in 12 s.
    now = 12_000;
    assert.equal(
      admission.estimatedStoredAt('second'),
      36_000,
      'after the first, which ends now at the earliest: 200 MiB at that rate take 24 s',
    );
    // As a status read reports it: the rate of the plan it just made.
    assert.equal(admission.throughput.bytesPerSec, Math.round((100 * MiB) / 12));
    assert.equal(admission.throughput.basis, 'measured');
    assert.equal(second.dropped.aborted, false);
    // At 25 s: at most 4 MiB/s, 200 MiB take 50 s, past the cut-off. It ends only at 45 s at the estimate
    // the window alone still has (10 MiB/s), where the queue learnt it only when the first ended.
    now = 25_000;
    assert.equal(admission.estimatedStoredAt('second'), undefined);
    assert.equal(second.dropped.aborted, true, 'no longer fits before 60 s: dropped while it waits');
    assert.equal(first.dropped.aborted, false);
    assert.equal(estimate.bytesPerSec, 10 * MiB, 'the estimate itself learns only from what ended');
  });

  test('time alone drops a waiting checkpoint that can no longer make its cut-off, with no call to the agent', async () => {
    let now = 0;
    const estimate = new CheckpointEstimate({ assumedBytesPerSec: 10 * MiB, overheadMs: 0 });
    const admission = new CheckpointAdmission(estimate, () => 1, { now: () => now, replanEveryMs: 10 });
    const running = admission.admit({ id: 'running', bytes: 100 * MiB, cutoff: 60_000 });
    running.started();
    const waiting = admission.admit({ id: 'waiting', bytes: 300 * MiB, cutoff: 60_000 });
    assert.equal(waiting.estimatedStoredAt, 40_000);
    // The running one overruns: at 35 s the 30 s the waiting one needs end past its cut-off.
    now = 35_000;
    const dropped = await new Promise<boolean>((resolve) => {
      waiting.dropped.addEventListener('abort', () => resolve(true));
      setTimeout(() => resolve(false), 1_000);
    });
    assert.equal(dropped, true, 'dropped by the re-plan tick, not at the next arrival, end or status read');
    assert.ok(isRefusal(waiting.dropped.reason));
    assert.equal(running.dropped.aborted, false, 'the running checkpoint is never dropped');
    running.finished();
  });
});

describe('checkpoint admission: the margin a new checkpoint must fit with', () => {
  function withFactor(admissionFactor: number) {
    let now = 0;
    const estimate = new CheckpointEstimate({ assumedBytesPerSec: 10 * MiB, overheadMs: 0 });
    const planned: string[] = [];
    const admission = new CheckpointAdmission(estimate, () => 1, {
      now: () => now,
      admissionFactor,
      onPlanned: (t) => planned.push(`${t.bytesPerSec / MiB} ${t.basis}`),
    });
    return { admission, planned, at: (t: number) => (now = t) };
  }

  test('refused at once with the rate, basis, time needed and time left when it fits only without the margin', () => {
    const { admission, planned } = withFactor(1.25);
    // 500 MiB at 10 MiB/s: 50 s, 62.5 s with the margin; 60 s left.
    const refusal = (() => {
      try {
        admission.admit({ id: 'lucky', bytes: 500 * MiB, cutoff: 60_000 });
      } catch (err) {
        return err as AgentFailure;
      }
      assert.fail('admitted');
    })();
    assert.ok(isRefusal(refusal));
    assert.match(refusal.message, /^needs ~62\.5 s at 10 MiB\/s assumed, 60 s left: /);
    assert.match(refusal.message, /1\.25x slower/);
    assert.deepEqual(refusal.toBody().plan, {
      neededMs: 62_500,
      leftMs: 60_000,
      durationMs: 50_000,
      admissionFactor: 1.25,
      throughput: { bytesPerSec: 10 * MiB, basis: 'assumed' },
    });
    assert.deepEqual(planned, ['10 assumed'], 'the plan reports the rate it used (the gauge)');
    const fits = admission.admit({ id: 'fits', bytes: 480 * MiB, cutoff: 60_000 });
    assert.equal(fits.estimatedStoredAt, 48_000, '60 s with the margin: admitted');
  });

  test('an admitted checkpoint is kept when the measured rate falls within the margin, dropped beyond it', () => {
    const { admission, at } = withFactor(1.25);
    const first = admission.admit({ id: 'first', bytes: 50 * MiB, cutoff: 100_000 });
    first.started();
    const waiting = admission.admit({ id: 'waiting', bytes: 700 * MiB, cutoff: 100_000 });
    assert.equal(waiting.estimatedStoredAt, 75_000, '5 s + 70 s; 93.75 s with the margin');
    // The first took 6 s, not 5: 1.2x slower. 700 MiB now need 84 s: stored at 90 s, before 100 s.
    at(6_000);
    first.finished({ bytes: 50 * MiB, ms: 6_000 });
    assert.equal(waiting.dropped.aborted, false, 'a fall within the margin drops nothing');
    assert.equal(admission.estimatedStoredAt('waiting'), 90_000);
    // Another at 1.5x slower than assumed (the window's rate ~7.1 MiB/s): 98.6 s from 13.5 s, past 100 s.
    const second = admission.admit({ id: 'second', bytes: 10 * MiB, cutoff: 200_000 });
    second.started();
    at(13_500);
    second.finished({ bytes: 50 * MiB, ms: 7_500 });
    assert.equal(waiting.dropped.aborted, true, 'beyond the margin it is dropped');
    const reason = waiting.dropped.reason as AgentFailure;
    assert.match(
      reason.message,
      /^dropped from the queue before its dump: needs ~\d+(\.\d)? s at 7\.\d MiB\/s measured, 86\.5 s left/,
    );
    assert.equal(reason.plan?.admissionFactor, 1, 'a drop is judged at the estimate itself');
  });

  test('with a factor of 1 the same pod is admitted, then dropped late when the rate falls', () => {
    const { admission, at } = withFactor(1);
    const lucky = admission.admit({ id: 'lucky', bytes: 500 * MiB, cutoff: 60_000 });
    const first = admission.admit({ id: 'first', bytes: 10 * MiB, cutoff: 60_000 });
    first.started();
    // 1.3x slower than assumed: 500 MiB now need 65 s.
    at(1_300);
    first.finished({ bytes: 10 * MiB, ms: 1_300 });
    assert.equal(lucky.dropped.aborted, true, 'dropped after it was accepted: the case the margin is for');
  });
});

describe('checkpoint admission: at risk', () => {
  test('accepted at the estimate when a checkpoint ends within the window; confirmed once it passed', () => {
    const { admission, decisions, at } = atRisk();
    const first = admission.admit({ id: 'first', bytes: 50 * MiB, cutoff: 100_000 });
    first.started();
    assert.equal(first.atRisk, false);
    // 5 s + 40 s = 45 s, before 50 s; 1.25x slower 56.25 s. The first ends at 5 s, inside the 10 s window.
    const risky = admission.admit({ id: 'risky', bytes: 400 * MiB, cutoff: 50_000 });
    assert.equal(risky.atRisk, true);
    assert.equal(risky.estimatedStoredAt, 45_000);
    assert.deepEqual(decisions, ['accepted', 'accepted-at-risk']);
    // The first ended as planned: the rate holds, and the window ends with it kept.
    at(5_000);
    first.finished({ bytes: 50 * MiB, ms: 5_000 });
    risky.started();
    at(10_000);
    assert.equal(admission.estimatedStoredAt('risky'), 45_000);
    assert.deepEqual(decisions, ['accepted', 'accepted-at-risk', 'confirmed']);
    assert.equal(risky.dropped.aborted, false);
  });

  test('refused at once when nothing on the node would end within the window', () => {
    const { admission, decisions } = atRisk();
    assert.throws(() => admission.admit({ id: 'alone', bytes: 450 * MiB, cutoff: 50_000 }), isRefusal);
    assert.deepEqual(decisions, ['refused']);
  });

  test('dropped as soon as the checkpoint ahead overruns enough, with its figures and the reason', () => {
    const { admission, decisions, at } = atRisk();
    const first = admission.admit({ id: 'first', bytes: 50 * MiB, cutoff: 100_000 });
    first.started();
    const risky = admission.admit({ id: 'risky', bytes: 400 * MiB, cutoff: 50_000 });
    // At 6 s the first still runs: at most 8.3 MiB/s, 400 MiB need 48 s, stored at 54 s at the earliest.
    at(6_000);
    assert.equal(admission.estimatedStoredAt('risky'), undefined);
    assert.equal(
      risky.dropped.aborted,
      true,
      'dropped 6 s after it was accepted, before the first even ended',
    );
    const reason = risky.dropped.reason as AgentFailure;
    assert.match(
      reason.message,
      /^dropped from the queue before its dump: needs ~48 s at 8\.3 MiB\/s measured, 44 s left: .*accepted at risk 6 s before/,
    );
    assert.deepEqual(decisions, ['accepted', 'accepted-at-risk', 'dropped-at-risk']);
    assert.equal(first.dropped.aborted, false);
  });
});

describe('checkpoint admission: at risk, at the end of its window', () => {
  test('one that no longer fits when its window ends is dropped at risk, not confirmed first', () => {
    const { admission, decisions, at } = atRisk();
    const first = admission.admit({ id: 'first', bytes: 50 * MiB, cutoff: 100_000 });
    first.started();
    const risky = admission.admit({ id: 'risky', bytes: 400 * MiB, cutoff: 50_000 });
    assert.equal(risky.atRisk, true);
    // Its window ends at 10 s, as the first ends slow: 50 MiB in 8 s after its start, 6.25 MiB/s.
    at(10_000);
    first.finished({ bytes: 50 * MiB, ms: 8_000 });
    assert.equal(risky.dropped.aborted, true);
    assert.deepEqual(decisions, ['accepted', 'accepted-at-risk', 'dropped-at-risk']);
  });
});

describe('checkpoint admission: samples read as shares of the node', () => {
  test("two checkpoints that ran side by side each prove half the node's rate", () => {
    let now = 0;
    const estimate = new CheckpointEstimate({ assumedBytesPerSec: 10 * MiB, overheadMs: 0 });
    const admission = new CheckpointAdmission(estimate, () => 2, { now: () => now });
    const a = admission.unadmittedStarted('a');
    const b = admission.unadmittedStarted('b');
    admission.slotsInUse(2);
    now = 10_000;
    admission.slotsInUse(1);
    a.finished({ bytes: 100 * MiB, ms: 10_000 });
    admission.slotsInUse(0);
    b.finished({ bytes: 100 * MiB, ms: 10_000 });
    assert.equal(estimate.bytesPerSec, 20 * MiB, '200 MiB in 10 s, not 10 MiB/s');
    assert.deepEqual(admission.throughput, { bytesPerSec: 20 * MiB, basis: 'measured' });
  });

  test('running checkpoints have moved their share of the node so far, and share what is left', () => {
    let now = 0;
    const estimate = new CheckpointEstimate({ assumedBytesPerSec: 10 * MiB, overheadMs: 0 });
    const admission = new CheckpointAdmission(estimate, () => 2, { now: () => now });
    const a = admission.admit({ id: 'a', bytes: 100 * MiB, cutoff: 60_000 });
    const b = admission.admit({ id: 'b', bytes: 100 * MiB, cutoff: 60_000 });
    assert.equal(a.estimatedStoredAt, 10_000, 'alone: the whole node');
    assert.equal(b.estimatedStoredAt, 20_000, 'side by side: 200 MiB of the node at 10 MiB/s');
    assert.equal(admission.estimatedStoredAt('a'), 20_000, 'and the first with it');
    admission.slotsInUse(1);
    a.started();
    admission.slotsInUse(2);
    b.started();
    // 5 s in: each moved 25 MiB at half the node; 150 MiB left between them.
    now = 5_000;
    assert.equal(admission.estimatedStoredAt('a'), 20_000);
    assert.equal(admission.estimatedStoredAt('b'), 20_000);
  });

  /**
   * bench:window at 0.8x: a small checkpoint's upload got far less than half the node beside a large one's
   * (one connection against several). 30 MiB/s assumed; 'small' (100 MiB) and 'large' (500 MiB) start
   * together on two slots, 'large' admitted with its size or asked without one.
   */
  function sideBySide(largeSize: 'known' | 'unknown') {
    let now = 0;
    const estimate = new CheckpointEstimate({ assumedBytesPerSec: 30 * MiB, overheadMs: 0 });
    const admission = new CheckpointAdmission(estimate, () => 2, { now: () => now });
    const small = admission.admit({ id: 'small', bytes: 100 * MiB, cutoff: 600_000 });
    small.started();
    if (largeSize === 'known') admission.admit({ id: 'large', bytes: 500 * MiB, cutoff: 600_000 }).started();
    else admission.unadmittedStarted('large');
    admission.slotsInUse(2);
    return { admission, estimate, small, at: (t: number) => (now = t) };
  }

  test('a small checkpoint slowed by a large one beside it lowers the rate only as far as their bytes allow', () => {
    // It takes 10 s: read as half the node, 200 MiB in 10 s (20 MiB/s); but the node may have moved 600.
    const known = sideBySide('known');
    known.at(10_000);
    known.small.finished({ bytes: 100 * MiB, ms: 10_000 });
    assert.equal(known.estimate.bytesPerSec, 30 * MiB, 'the 30 MiB/s planned is not contradicted');
    assert.deepEqual(known.admission.throughput, { bytesPerSec: 30 * MiB, basis: 'assumed' });
    // With the large one's size unknown nothing bounds the node's bytes but the share: as before.
    const unknown = sideBySide('unknown');
    unknown.at(10_000);
    unknown.small.finished({ bytes: 100 * MiB, ms: 10_000 });
    assert.equal(unknown.estimate.bytesPerSec, 20 * MiB);
  });

  test('a small running checkpoint past its share of the time beside a large one does not pull the plan down', () => {
    // 10 s in, it still runs: at half the node the plan's 30 MiB/s should have stored it at 6.7 s.
    const known = sideBySide('known');
    known.at(10_000);
    assert.equal(known.admission.estimatedStoredAt('small'), 10_000, 'it ends now at the earliest');
    assert.deepEqual(known.admission.throughput, { bytesPerSec: 30 * MiB, basis: 'assumed' });
    const unknown = sideBySide('unknown');
    unknown.at(10_000);
    unknown.admission.estimatedStoredAt('small');
    assert.deepEqual(unknown.admission.throughput, { bytesPerSec: 20 * MiB, basis: 'measured' });
  });
});

describe('checkpoint admission: one checkpoint alone goes at most at the rate lone ones were measured at', () => {
  /**
   * A node that moves 100 MiB/s in all (its last two checkpoints, side by side); with `lone`, one that ran
   * alone before them moved 60 MiB/s. A 1.25 margin, at risk within 0.6 of the time to the cut-off.
   */
  function node(lone: boolean, slots = 2) {
    let now = 0;
    const estimate = new CheckpointEstimate({ assumedBytesPerSec: 10 * MiB, overheadMs: 0, window: 2 });
    if (lone) estimate.observe({ bytes: 600 * MiB, ms: 10_000, concurrency: 1 });
    for (let i = 0; i < 2; i++) estimate.observe({ bytes: 500 * MiB, ms: 10_000, concurrency: 2 });
    const decisions: string[] = [];
    const figures: (number | undefined)[] = [];
    const admission = new CheckpointAdmission(estimate, () => slots, {
      now: () => now,
      admissionFactor: 1.25,
      atRiskShare: 0.6,
      onDecision: (d, about) => {
        decisions.push(d);
        figures.push(about.singleBytesPerSec);
      },
    });
    return { admission, estimate, decisions, figures, at: (t: number) => (now = t) };
  }

  /** A burst of two: 'a' (200 MiB) and 'b' (400 MiB) side by side, 'b' alone once 'a' is stored at 4 s. */
  function burst(lone: boolean, cutoff: number) {
    const n = node(lone);
    n.admission.admit({ id: 'a', bytes: 200 * MiB, cutoff });
    try {
      return { ...n, b: n.admission.admit({ id: 'b', bytes: 400 * MiB, cutoff }), refusal: undefined };
    } catch (err) {
      return { ...n, b: undefined, refusal: err as AgentFailure };
    }
  }

  test('the last of a burst, alone, is planned at the single rate: at risk or refused where the whole rate admitted it', () => {
    assert.equal(node(true).estimate.singleBytesPerSec, 60 * MiB);
    assert.equal(node(false).estimate.singleBytesPerSec, undefined);
    assert.equal(
      node(true).estimate.bytesPerSec,
      node(false).estimate.bytesPerSec,
      'the node rate is the same',
    );

    // Cut-off 8 s. At the whole rate 'b' is stored at 6 s, 7.5 s with the margin: accepted.
    const whole = burst(false, 8000);
    assert.equal(whole.b?.estimatedStoredAt, 6000);
    assert.deepEqual(whole.decisions, ['accepted', 'accepted']);
    // At 60 MiB/s alone its last 200 MiB take 3.33 s: 7.33 s, 9.17 s with the margin. It fits only at the
    // estimate, and 'a' is stored at 4 s, within 0.6 of the 8 s: at risk.
    const capped = burst(true, 8000);
    assert.equal(Math.round(capped.b?.estimatedStoredAt ?? 0), 7333);
    assert.deepEqual(capped.decisions, ['accepted', 'accepted-at-risk']);
    assert.deepEqual(capped.figures, [60 * MiB, 60 * MiB], 'each decision carries the single rate');

    // Cut-off 7 s: at risk at the whole rate, refused at the single rate, and told why.
    assert.deepEqual(burst(false, 7000).decisions, ['accepted', 'accepted-at-risk']);
    const refused = burst(true, 7000);
    assert.deepEqual(refused.decisions, ['accepted', 'refused']);
    assert.ok(isRefusal(refused.refusal));
    assert.match(
      refused.refusal?.message ?? '',
      /^needs ~7\.3 s at 100 MiB\/s measured, 7 s left: its 400 MiB take ~6\.7 s \(one checkpoint alone moves at most 60 MiB\/s here\)/,
    );
    assert.equal(refused.refusal?.plan?.durationMs, Math.ceil((400 / 60) * 1000), 'its own time alone');
  });

  test('a lone running checkpoint past the time the node rate gives it pulls down the single rate only, and only once past that', () => {
    const { admission, at } = node(true, 1);
    const a = admission.admit({ id: 'a', bytes: 600 * MiB, cutoff: 60_000 });
    a.started();
    const w = admission.admit({ id: 'w', bytes: 120 * MiB, cutoff: 60_000 });
    // Alone at 60 MiB/s: 'a' takes 10 s (not 6), then 'w' 2 s.
    assert.equal(admission.estimatedStoredAt('a'), 10_000);
    assert.equal(w.estimatedStoredAt, 12_000);
    // At 8 s 'a' is past the 6 s the node's whole rate gives it, as one checkpoint is expected to be: no pull-down.
    at(8000);
    assert.equal(admission.estimatedStoredAt('a'), 10_000);
    assert.equal(admission.estimatedStoredAt('w'), 12_000);
    assert.deepEqual(admission.throughput, { bytesPerSec: 100 * MiB, basis: 'measured' });
    // At 15 s it still runs: one checkpoint moves at most 40 MiB/s. It ends now at the earliest, and 'w' alone
    // after it takes 3 s; the node's rate, which a lone checkpoint says nothing about, stands.
    at(15_000);
    assert.equal(admission.estimatedStoredAt('a'), 15_000);
    assert.equal(admission.estimatedStoredAt('w'), 18_000);
    assert.deepEqual(admission.throughput, { bytesPerSec: 100 * MiB, basis: 'measured' });
    assert.equal(w.dropped.aborted, false);
  });
});

describe('checkpoint admission: turns', () => {
  const flush = () => new Promise((r) => setImmediate(r));

  test("a burst takes the slots in the plan's order, once its requests have all arrived", async () => {
    let now = 0;
    const estimate = new CheckpointEstimate({ assumedBytesPerSec: 10 * MiB, overheadMs: 0 });
    const admission = new CheckpointAdmission(estimate, () => 2, { now: () => now, settleMs: 300 });
    const signal = new AbortController().signal;
    const turns: string[] = [];
    const ask = (id: string, mib: number) => {
      const a = admission.admit({ id, bytes: mib * MiB, cutoff: 600_000 });
      void a.turn(signal).then(() => turns.push(id));
      return a;
    };
    // The largest arrives first: granted on arrival, it took a slot ahead of the short ones.
    ask('big', 300);
    now = 100;
    const s1 = ask('s1', 50);
    now = 200;
    const s2 = ask('s2', 50);
    now = 250;
    admission.estimatedStoredAt('big');
    await flush();
    assert.deepEqual(turns, [], 'none starts while the burst still arrives');
    now = 500;
    admission.estimatedStoredAt('big');
    await flush();
    assert.deepEqual(turns.sort(), ['s1', 's2'], 'the two short ones first, as the plan has them');
    s1.started();
    s2.started();
    now = 10_500;
    s1.finished({ bytes: 50 * MiB, ms: 10_000 });
    await flush();
    assert.deepEqual(turns, ['s1', 's2', 'big'], 'the next once a slot frees');
    s2.finished();
  });

  // A timeout: broken, the wait would hang rather than fail.
  test('a wait for its turn ends with its signal: dropped, or past its deadline', {
    timeout: 5000,
  }, async () => {
    const estimate = new CheckpointEstimate({ assumedBytesPerSec: 10 * MiB, overheadMs: 0 });
    const admission = new CheckpointAdmission(estimate, () => 1, { now: () => 0, settleMs: 300 });
    const a = admission.admit({ id: 'a', bytes: 10 * MiB, cutoff: 600_000 });
    const stop = new AbortController();
    const waiting = a.turn(stop.signal);
    stop.abort(new Error('dropped'));
    await assert.rejects(waiting, /dropped/);
  });
});
