import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { availableMiB, memoryShortfall, oracleStored, sizesForLoad } from '../../../bench/window-capacity.js';

const MiB = 2 ** 20;

describe('window benchmark: capacity figures', () => {
  const model = { overheadMs: 1000, nodeBytesPerSec: 10 * MiB };

  test('the oracle stores, per node, the most pods one machine can before the cut-off', () => {
    const pods = [
      // Node a: 2 s + 3 s + 6 s; 10 s of window holds the first two only.
      { node: 'a', bytes: 10 * MiB, cutoffMs: 10_000 },
      { node: 'a', bytes: 50 * MiB, cutoffMs: 10_000 },
      { node: 'a', bytes: 20 * MiB, cutoffMs: 10_000 },
      // Node b runs beside it with its own share: both of its pods fit.
      { node: 'b', bytes: 30 * MiB, cutoffMs: 10_000 },
      { node: 'b', bytes: 30 * MiB, cutoffMs: 10_000 },
    ];
    assert.equal(oracleStored(model, pods), 4);
  });

  test('sizes for a load keep their shape and add up to load x capacity x window', () => {
    const sizes = sizesForLoad([100, 300], { load: 2, capacityMiBps: 10, windowSeconds: 20, minMiB: 4 });
    assert.deepEqual(sizes, [100, 300]);
    const half = sizesForLoad([100, 300, 1], { load: 0.5, capacityMiBps: 10, windowSeconds: 20, minMiB: 4 });
    assert.deepEqual(half, [25, 75, 4], 'none below the floor');
  });

  test('a run whose processes would not fit in the available memory is refused before any starts', () => {
    const meminfo = 'MemTotal:       24683520 kB\nMemFree:        12730000 kB\nMemAvailable:   20480000 kB\n';
    assert.equal(availableMiB(meminfo), 20_000);
    assert.equal(memoryShortfall(14_000, 20_000), undefined);
    assert.match(memoryShortfall(14_001, 20_000) ?? '', /need 14001 MiB .* 20000 MiB available/);
    assert.throws(() => availableMiB('MemTotal: 1 kB\n'));
  });
});
