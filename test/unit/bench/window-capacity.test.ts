import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  availableMiB,
  burstRates,
  memoryRefusal,
  memoryShortfall,
  oracleStored,
  sizesForLoad,
  sizesForLoadPerNode,
} from '../../../bench/window-capacity.js';

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

  test("the burst's own rate per node: bytes stored over the time to its last archive, less each pod's fixed cost", () => {
    const at = 1_000_000;
    const rates = burstRates(
      [
        // Node a: 90 MiB in 3 pods, the last stored 12 s after delivery; 3 x 1 s fixed cost: 10 MiB/s.
        { node: 'a', bytes: 10 * MiB, storedAt: at + 4_000 },
        { node: 'a', bytes: 30 * MiB, storedAt: at + 12_000 },
        { node: 'a', bytes: 50 * MiB, storedAt: at + 9_000 },
        // Not stored: neither its bytes nor a fixed cost count.
        { node: 'a', bytes: 500 * MiB },
        // Node b stored nothing: no rate, so the oracle keeps the calibration's for it.
        { node: 'b', bytes: 40 * MiB },
        // Node c: fixed costs that would fill the span are not taken off: 8 MiB over 0.5 s.
        { node: 'c', bytes: 8 * MiB, storedAt: at + 500 },
      ],
      at,
      1000,
    );
    assert.deepEqual([...rates.keys()].sort(), ['a', 'c']);
    assert.equal(rates.get('a'), 10 * MiB);
    assert.equal(rates.get('c'), 16 * MiB);
    // Each node's oracle at its own rate: 10 s hold 2 of these 3 pods at a's 10 MiB/s, 1 at 4 MiB/s.
    const pods = ['a', 'slow'].flatMap((node) =>
      [10, 30, 50].map((m) => ({ node, bytes: m * MiB, cutoffMs: 10_000 })),
    );
    const perNode = new Map([...rates, ['slow', 4 * MiB]]);
    assert.equal(
      oracleStored((node) => ({ overheadMs: 1000, nodeBytesPerSec: perNode.get(node) as number }), pods),
      3,
    );
    assert.equal(oracleStored(model, pods), 4);
  });

  test('sizes for a load keep their shape and add up to load x capacity x window', () => {
    const sizes = sizesForLoad([100, 300], { load: 2, capacityMiBps: 10, windowSeconds: 20, minMiB: 4 });
    assert.deepEqual(sizes, [100, 300]);
    const half = sizesForLoad([100, 300, 1], { load: 0.5, capacityMiBps: 10, windowSeconds: 20, minMiB: 4 });
    assert.deepEqual(half, [25, 75, 4], 'none below the floor');
  });

  test('sizes per node: every node offered the load times its own share, whatever its pods', () => {
    // Scaling the total alone would leave the first node with 2/3 of it: 1.33x its share at 1x.
    const byNode = sizesForLoadPerNode(
      [
        [100, 100],
        [50, 50],
      ],
      { load: 1, capacityMiBps: 20, windowSeconds: 10, minMiB: 4 },
    );
    assert.deepEqual(byNode, [
      [50, 50],
      [50, 50],
    ]);
    const uneven = sizesForLoadPerNode([[10, 30], [8]], {
      load: 0.8,
      capacityMiBps: 20,
      windowSeconds: 10,
      minMiB: 4,
    });
    assert.deepEqual(uneven, [[20, 60], [80]]);
  });

  test('a run whose processes would not fit in the available memory is refused before any starts', () => {
    const meminfo = 'MemTotal:       24683520 kB\nMemFree:        12730000 kB\nMemAvailable:   20480000 kB\n';
    assert.equal(availableMiB(meminfo), 20_000);
    assert.equal(memoryShortfall(14_000, 20_000), undefined);
    assert.match(memoryShortfall(14_001, 20_000) ?? '', /need 14001 MiB .* 20000 MiB available/);
    assert.throws(() => availableMiB('MemTotal: 1 kB\n'));
  });

  // The README's 2x case: 159.3 MiB/s, an 85 s cut-off, 18,757 MiB available (13,130 MiB usable).
  const twoX = {
    shapeByNode: [
      [64, 8, 8, 8, 8],
      [32, 8, 8, 8, 8],
    ],
    load: 2,
    capacityMiBps: 159.3,
    cutoffSeconds: 85,
    minMiB: 4,
    availableMiB: 18_757,
  };

  test('a load that does not fit is refused with the smallest delivery delay at which it would', () => {
    const refusal = memoryRefusal({ ...twoX, lateSeconds: 0 }) ?? '';
    assert.match(refusal, /need 27081 MiB .* 18757 MiB available/);
    // 2 x 159.3 MiB/s x (85 - 44) s = 13,063 MiB fits in 13,130; at 43 s late it would be 13,381.
    assert.match(
      refusal,
      /fits with --delivered-late 44: .* leave 41 s from delivery .* instead of 85 s, and 1306\d MiB/,
    );
    assert.equal(memoryRefusal({ ...twoX, lateSeconds: 44 }), undefined);
    assert.match(memoryRefusal({ ...twoX, lateSeconds: 43 }) ?? '', /--delivered-late 44/);
  });

  test('a refusal no delay can cure, and one for sizes given without a load, say so', () => {
    const many = { ...twoX, shapeByNode: [Array.from({ length: 5000 }, () => 8)], availableMiB: 20_000 };
    assert.match(
      memoryRefusal({ ...many, lateSeconds: 0 }) ?? '',
      /No delivery delay makes a 2x load fit: .* 20000 MiB/,
    );
    const { load: _, ...asGiven } = twoX;
    assert.match(
      memoryRefusal({ ...asGiven, shapeByNode: [[20_000]], lateSeconds: 0 }) ?? '',
      /given without --load, so a later delivery would not shrink them/,
    );
    assert.equal(memoryRefusal({ ...asGiven, lateSeconds: 0 }), undefined);
  });
});
