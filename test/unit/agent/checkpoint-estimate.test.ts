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

  test("then the recent checkpoints' bytes over their time less the overhead", () => {
    const e = new CheckpointEstimate({ assumedBytesPerSec: 10 * MiB, overheadMs: 1000 });
    e.observe({ bytes: 200 * MiB, ms: 3000 }); // 200 MiB in 2 s after the overhead
    e.observe({ bytes: 100 * MiB, ms: 2000 }); // 100 MiB in 1 s
    assert.equal(e.bytesPerSec, 100 * MiB, '300 MiB in 3 s');
    assert.equal(e.basis, 'measured');
    assert.equal(e.durationMs(50 * MiB), 1500);
  });

  test('a window of small dumps that all ended within the overhead keeps the assumption', () => {
    const e = new CheckpointEstimate({ assumedBytesPerSec: 10 * MiB, overheadMs: 1000 });
    e.observe({ bytes: 8 * MiB, ms: 900 });
    assert.equal(e.bytesPerSec, 10 * MiB);
    assert.equal(e.basis, 'assumed', 'and says so, though it has seen a checkpoint');
  });

  test('forgets checkpoints older than its window, so a node that slowed down is seen as slow', () => {
    const e = new CheckpointEstimate({ assumedBytesPerSec: 10 * MiB, overheadMs: 0, window: 2 });
    e.observe({ bytes: 100 * MiB, ms: 1000 });
    e.observe({ bytes: 10 * MiB, ms: 1000 });
    e.observe({ bytes: 10 * MiB, ms: 1000 });
    assert.equal(e.bytesPerSec, 10 * MiB);
    e.observe({ bytes: Number.NaN, ms: 5 });
    e.observe({ bytes: 0, ms: 5 });
    assert.equal(e.measured, 2, 'samples without bytes are not taken');
  });
});
