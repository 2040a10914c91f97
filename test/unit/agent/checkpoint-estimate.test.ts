import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CheckpointEstimate } from '../../../services/agent/checkpoint-estimate.js';

const MiB = 2 ** 20;

describe('checkpoint estimate', () => {
  test('uses the assumed throughput until the node has measured a checkpoint', () => {
    const e = new CheckpointEstimate({ assumedBytesPerSec: 10 * MiB, overheadMs: 1000 });
    assert.equal(e.measured, 0);
    assert.equal(e.basis, 'assumed');
    assert.equal(e.durationMs(100 * MiB), 11_000, '1 s of overhead plus 100 MiB at 10 MiB/s');
  });

  test('a checkpoint faster than assumed lifts the rate to what it proves with no overhead at all, never more', () => {
    const e = new CheckpointEstimate({ assumedBytesPerSec: 10 * MiB, overheadMs: 1000 });
    e.observe({ bytes: 200 * MiB, ms: 3000 }); // 200 MiB in 2 s after the overhead, in 3 s with none
    e.observe({ bytes: 100 * MiB, ms: 2000 });
    assert.equal(
      e.bytesPerSec,
      60 * MiB,
      '300 MiB in 5 s, not the 100 MiB/s the assumed overhead would make it',
    );
    assert.equal(e.basis, 'measured');
    assert.equal(e.durationMs(60 * MiB), 2000);
  });

  test("small checkpoints that ended within the assumed overhead still teach what they prove (bench:window's calibration)", () => {
    // The agent's defaults; 32 MiB stored in 0.4 and 0.9 s on a node that moves ~130 MiB/s.
    const e = new CheckpointEstimate({ assumedBytesPerSec: 32 * MiB, overheadMs: 1500 });
    e.observe({ bytes: 32 * MiB, ms: 400 });
    assert.equal(e.bytesPerSec, 80 * MiB);
    assert.equal(e.basis, 'measured');
    e.observe({ bytes: 32 * MiB, ms: 900 });
    assert.equal(Math.round(e.bytesPerSec / MiB), 49, '64 MiB in 1.3 s');
    // A 3.9 GiB pod: ~83 s planned, where the assumption planned ~126 s.
    assert.equal(Math.round(e.durationMs(3994 * MiB) / 1000), 83);
  });

  test('noise in a large sample cannot make it optimistic: the overhead is not taken off a faster checkpoint', () => {
    // 256 MiB in 2.2 s on a node with a real overhead of 0.2 s: less the assumed 1.5 s it would read 366 MiB/s.
    const e = new CheckpointEstimate({ assumedBytesPerSec: 32 * MiB, overheadMs: 1500 });
    e.observe({ bytes: 256 * MiB, ms: 2200 });
    assert.equal(Math.round(e.bytesPerSec / MiB), 116);
    assert.ok(e.durationMs(3994 * MiB) > 31_000, 'no shorter than the 31 s such a dump really takes');
  });

  test('a checkpoint slower than assumed even after the whole overhead lowers the rate', () => {
    const e = new CheckpointEstimate({ assumedBytesPerSec: 32 * MiB, overheadMs: 1500 });
    e.observe({ bytes: 64 * MiB, ms: 9500 }); // 8 s for 64 MiB once the overhead is granted
    assert.equal(e.bytesPerSec, 8 * MiB);
    assert.equal(e.basis, 'measured');
  });

  test('small dumps a slow overhead explains keep the assumption, and say so', () => {
    const e = new CheckpointEstimate({ assumedBytesPerSec: 10 * MiB, overheadMs: 1000 });
    // 8 MiB in 1.5 s: between 5.3 MiB/s (no overhead) and 16 MiB/s (all of it), so 10 is not contradicted.
    e.observe({ bytes: 8 * MiB, ms: 1500 });
    assert.equal(e.bytesPerSec, 10 * MiB, 'a burst of small pods does not drag the estimate down');
    assert.equal(e.basis, 'assumed', 'though it has seen a checkpoint');
    assert.equal(e.measured, 1);
  });

  test('forgets checkpoints older than its window, so a node that slowed down is seen as slow', () => {
    const e = new CheckpointEstimate({ assumedBytesPerSec: 10 * MiB, overheadMs: 0, window: 2 });
    e.observe({ bytes: 100 * MiB, ms: 1000 });
    e.observe({ bytes: 10 * MiB, ms: 1000 });
    e.observe({ bytes: 10 * MiB, ms: 1000 });
    assert.equal(e.bytesPerSec, 10 * MiB);
    e.observe({ bytes: Number.NaN, ms: 5 });
    e.observe({ bytes: 0, ms: 5 });
    e.observe({ bytes: 10 * MiB, ms: 0 });
    assert.equal(e.measured, 2, 'samples without bytes, or without time, are not taken');
  });

  test('a checkpoint that shared the node proves its share: the node moved that many times its bytes', () => {
    const e = new CheckpointEstimate({ assumedBytesPerSec: 10 * MiB, overheadMs: 0 });
    e.observe({ bytes: 100 * MiB, ms: 5000, concurrency: 2 });
    assert.equal(e.bytesPerSec, 40 * MiB, '100 MiB in 5 s beside another: 200 MiB in 5 s');
    assert.equal(e.durationMs(100 * MiB), 2500, 'alone, it would take half the time');
    const alone = new CheckpointEstimate({ assumedBytesPerSec: 10 * MiB, overheadMs: 0 });
    alone.observe({ bytes: 100 * MiB, ms: 5000 });
    assert.equal(alone.bytesPerSec, 20 * MiB);
  });

  test("a sample lowers the rate only as far as the most the node can have moved meanwhile (its neighbours' bytes)", () => {
    const fair = new CheckpointEstimate({ assumedBytesPerSec: 30 * MiB, overheadMs: 1000 });
    fair.observe({ bytes: 100 * MiB, ms: 11_000, concurrency: 2 });
    assert.equal(fair.bytesPerSec, 20 * MiB, 'read as half the node: 200 MiB in 10 s');
    // Beside a 500 MiB one that got the larger part: the node moved at most 600 MiB in those 10 s.
    const bounded = new CheckpointEstimate({ assumedBytesPerSec: 30 * MiB, overheadMs: 1000 });
    bounded.observe({ bytes: 100 * MiB, ms: 11_000, concurrency: 2, nodeBytesAtMost: 600 * MiB });
    assert.equal(bounded.bytesPerSec, 30 * MiB);
    assert.equal(bounded.basis, 'assumed');
    // Slower still, it lowers the rate, to what those 600 MiB prove.
    const slower = new CheckpointEstimate({ assumedBytesPerSec: 30 * MiB, overheadMs: 1000 });
    slower.observe({ bytes: 100 * MiB, ms: 61_000, concurrency: 2, nodeBytesAtMost: 600 * MiB });
    assert.equal(slower.bytesPerSec, 10 * MiB, 'at most 600 MiB in 60 s');
    // A bound below the fair share's figure never lowers more than the share does.
    const below = new CheckpointEstimate({ assumedBytesPerSec: 30 * MiB, overheadMs: 1000 });
    below.observe({ bytes: 100 * MiB, ms: 11_000, concurrency: 2, nodeBytesAtMost: 150 * MiB });
    assert.equal(below.bytesPerSec, 20 * MiB);
    // Nor does it change what a fast sample lifts the rate to.
    const fast = new CheckpointEstimate({ assumedBytesPerSec: 30 * MiB, overheadMs: 1000 });
    fast.observe({ bytes: 100 * MiB, ms: 2000, concurrency: 2, nodeBytesAtMost: 600 * MiB });
    assert.equal(fast.bytesPerSec, 100 * MiB, 'at most 200 MiB in 2 s, as with fair shares');
  });

  test('the latest checkpoints pull the rate down at once when they prove the node slower (a burst)', () => {
    const e = new CheckpointEstimate({ assumedBytesPerSec: 10 * MiB, overheadMs: 1000 });
    // Six before the burst at 50 MiB/s (100 MiB in 3 s: 2 s after the overhead, at most 3 s with none).
    for (let i = 0; i < 6; i++) e.observe({ bytes: 100 * MiB, ms: 3000 });
    assert.equal(Math.round(e.bytesPerSec / MiB), 33);
    // Two of the burst: 100 MiB in 6 s, 5 s even after the whole overhead: at most 20 MiB/s.
    e.observe({ bytes: 100 * MiB, ms: 6000 });
    e.observe({ bytes: 100 * MiB, ms: 6000 });
    assert.equal(e.bytesPerSec, 20 * MiB, 'the two slow ones alone, where the window of 8 says 27 MiB/s');
    // Faster ones lift it only through the window.
    e.observe({ bytes: 100 * MiB, ms: 1000 });
    e.observe({ bytes: 100 * MiB, ms: 1000 });
    assert.equal(Math.round(e.bytesPerSec / MiB), 31, 'the window: 800 MiB in 26 s');
  });

  test('latest checkpoints that the overhead explains do not pull it below the window (a burst of small pods)', () => {
    const samples = [
      ...Array.from({ length: 4 }, () => ({ bytes: 100 * MiB, ms: 3000 })),
      // 8 MiB in 1.2 s: at most 40 MiB/s once the whole overhead is granted, so ~31 MiB/s is not contradicted.
      { bytes: 8 * MiB, ms: 1200 },
      { bytes: 8 * MiB, ms: 1200 },
    ];
    const e = new CheckpointEstimate({ assumedBytesPerSec: 10 * MiB, overheadMs: 1000 });
    const windowOnly = new CheckpointEstimate({ assumedBytesPerSec: 10 * MiB, overheadMs: 1000, recent: 0 });
    for (const x of samples) {
      e.observe(x);
      windowOnly.observe(x);
    }
    assert.equal(e.bytesPerSec, windowOnly.bytesPerSec);
    for (let i = 0; i < 2; i++) {
      e.observe({ bytes: 100 * MiB, ms: 6000 });
      windowOnly.observe({ bytes: 100 * MiB, ms: 6000 });
    }
    assert.ok(e.bytesPerSec < windowOnly.bytesPerSec, 'slow large ones do');
  });

  test('a running checkpoint past its time bounds the rate: its share has not moved its bytes yet', () => {
    const e = new CheckpointEstimate({ assumedBytesPerSec: 10 * MiB, overheadMs: 1000 });
    assert.equal(e.ceilingWhileRunning(100 * MiB, 900), Number.POSITIVE_INFINITY, 'still in its overhead');
    assert.equal(e.ceilingWhileRunning(100 * MiB, 11_000), 10 * MiB);
    assert.equal(e.ceilingWhileRunning(100 * MiB, 11_000, 2), 20 * MiB, 'beside another: twice that');
    assert.equal(
      e.ceilingWhileRunning(100 * MiB, 11_000, 2, 500 * MiB),
      60 * MiB,
      'beside a 500 MiB one that may have taken the larger part: its bytes too',
    );
    assert.equal(e.ceilingWhileRunning(100 * MiB, 11_000, 2, 50 * MiB), 20 * MiB, 'never below the share');
  });
});

describe('checkpoint estimate: what one checkpoint alone moves', () => {
  test('learnt only from checkpoints that ran alone: shared ones never set it', () => {
    const e = new CheckpointEstimate({ assumedBytesPerSec: 10 * MiB, overheadMs: 0 });
    // Two side by side, 41 MiB/s each (bench:window's 2 cores): the node moves 82 MiB/s.
    e.observe({ bytes: 410 * MiB, ms: 10_000, concurrency: 2 });
    e.observe({ bytes: 630 * MiB, ms: 10_000, concurrency: 1.3 });
    assert.equal(e.singleBytesPerSec, undefined, 'none ran alone: a lone one goes at the whole rate');
    // The last of the burst, alone (the one before ended just after it started): 66 MiB/s.
    e.observe({ bytes: 660 * MiB, ms: 10_000, concurrency: 1.2 });
    assert.equal(e.singleBytesPerSec, 66 * MiB);
    assert.ok(e.bytesPerSec > 66 * MiB, 'below the node rate, which the shared ones lift');
    // More shared ones, slow or fast, leave it.
    e.observe({ bytes: 100 * MiB, ms: 10_000, concurrency: 2 });
    e.observe({ bytes: 900 * MiB, ms: 10_000, concurrency: 2 });
    assert.equal(e.singleBytesPerSec, 66 * MiB);
  });

  test('never above what a lone checkpoint proves: B/(T - O) when slower than the node rate, B/T when faster', () => {
    // The node moves 100 MiB/s in all, as assumed and as the shared ones that follow allow.
    const e = new CheckpointEstimate({ assumedBytesPerSec: 100 * MiB, overheadMs: 1000, window: 3 });
    // Alone, 100 MiB in 3 s: between 33 MiB/s (no overhead) and 50 (all of it), below the node's 100.
    e.observe({ bytes: 100 * MiB, ms: 3000 });
    for (let i = 0; i < 3; i++) e.observe({ bytes: 50 * MiB, ms: 1100, concurrency: 2 });
    assert.equal(e.bytesPerSec, 100 * MiB);
    assert.equal(e.singleBytesPerSec, 50 * MiB, 'granting the whole overhead, as the plan adds it back');
    assert.equal(
      e.durationMs(100 * MiB, e.singleBytesPerSec),
      3000,
      "the plan gives that checkpoint's own time back",
    );

    // A node slower in all than its lone checkpoints prove: 100 MiB alone in 2 s, at least 50 MiB/s.
    const slow = new CheckpointEstimate({ assumedBytesPerSec: 10 * MiB, overheadMs: 1000, window: 1 });
    slow.observe({ bytes: 100 * MiB, ms: 2000 });
    slow.observe({ bytes: 10 * MiB, ms: 11_000, concurrency: 2 });
    assert.equal(slow.bytesPerSec, 2 * MiB);
    assert.equal(slow.singleBytesPerSec, 50 * MiB, 'B/T, not the 100 MiB/s the overhead would make it');
  });

  test("small lone checkpoints inside the overhead leave a lone one at the node's rate (the calibration)", () => {
    const e = new CheckpointEstimate({ assumedBytesPerSec: 32 * MiB, overheadMs: 1500 });
    // 32 MiB in 0.4 s: at least 80 MiB/s, and any rate above; the burst's shared ones prove 130 in all.
    e.observe({ bytes: 32 * MiB, ms: 400 });
    for (let i = 0; i < 6; i++) e.observe({ bytes: 650 * MiB, ms: 10_000, concurrency: 2 });
    assert.equal(e.singleBytesPerSec, e.bytesPerSec);
  });

  test('keeps a window of its own, so the latest lone checkpoints set it', () => {
    const e = new CheckpointEstimate({ assumedBytesPerSec: 10 * MiB, overheadMs: 0, singleWindow: 2 });
    e.observe({ bytes: 100 * MiB, ms: 1000 });
    e.observe({ bytes: 50 * MiB, ms: 1000 });
    e.observe({ bytes: 50 * MiB, ms: 1000 });
    assert.equal(e.singleBytesPerSec, 50 * MiB);
  });
});
