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
  const admission = new CheckpointAdmission(
    estimate,
    () => slots,
    () => now,
  );
  return { admission, estimate, at: (t: number) => (now = t) };
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
    const admission = new CheckpointAdmission(
      estimate,
      () => 1,
      () => now,
    );
    const waiting = admission.admit({ id: 'w', bytes: 500 * MiB, cutoff: 60_000 });
    assert.equal(waiting.estimatedStoredAt, 50_000);
    now = 1000;
    admission.observe({ bytes: 100 * MiB, ms: 50_000 });
    assert.equal(waiting.dropped.aborted, true, 'at the 2 MiB/s measured, 500 MiB no longer fits');
  });
});

describe('checkpoint admission: estimates as time passes', () => {
  test('a waiting checkpoint is pushed back while the one ahead overruns, and dropped once it cannot fit', () => {
    let now = 0;
    const estimate = new CheckpointEstimate({ assumedBytesPerSec: 10 * MiB, overheadMs: 0 });
    const admission = new CheckpointAdmission(
      estimate,
      () => 1,
      () => now,
    );
    const first = admission.admit({ id: 'first', bytes: 100 * MiB, cutoff: 60_000 });
    first.started();
    const second = admission.admit({ id: 'second', bytes: 200 * MiB, cutoff: 60_000 });
    assert.equal(second.estimatedStoredAt, 30_000);
    now = 25_000; // the first should have ended at 10 s and is still running
    assert.equal(admission.estimatedStoredAt('second'), 45_000, 'never a time already past');
    now = 45_000;
    assert.equal(admission.estimatedStoredAt('second'), undefined);
    assert.equal(second.dropped.aborted, true, 'no longer fits before 60 s: dropped while it waits');
    assert.equal(first.dropped.aborted, false);
  });

  test('time alone drops a waiting checkpoint that can no longer make its cut-off, with no call to the agent', async () => {
    let now = 0;
    const estimate = new CheckpointEstimate({ assumedBytesPerSec: 10 * MiB, overheadMs: 0 });
    const admission = new CheckpointAdmission(
      estimate,
      () => 1,
      () => now,
      10,
    );
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
