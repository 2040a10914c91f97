import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CheckpointOverlap } from '../../../services/agent/checkpoint-overlap.js';

const MiB = 2 ** 20;

describe('checkpoint overlap', () => {
  test("the others' whole sizes over a span: those that ran in it, not before or after, nor the one asked about", () => {
    let now = 0;
    const o = new CheckpointOverlap(() => now);
    o.started('before', 50 * MiB);
    now = 1_000;
    o.ended('before', 40 * MiB);
    o.started('small', 100 * MiB);
    now = 2_000;
    o.started('large', 500 * MiB);
    now = 10_000;
    assert.equal(o.othersBytes('small', 1_000, 10_000), 500 * MiB, 'the running one at its given size');
    now = 15_000;
    o.ended('small', 101 * MiB);
    o.started('after', 30 * MiB);
    now = 30_000;
    o.ended('large', 506 * MiB);
    assert.equal(o.othersBytes('small', 1_000, 15_000), 506 * MiB, 'the ended one at the bytes it dumped');
    assert.equal(o.othersBytes('large', 2_000, 30_000), (101 + 30) * MiB);
    assert.equal(
      o.othersBytes('before', 0, 1_000),
      0,
      'one that ended as another started did not overlap it',
    );
  });

  test('one of unknown size (asked without memory, and failed) leaves the span unbounded', () => {
    let now = 0;
    const o = new CheckpointOverlap(() => now);
    o.started('admitted', 100 * MiB);
    o.started('unadmitted');
    now = 5_000;
    assert.equal(o.othersBytes('admitted', 0, 5_000), undefined, 'its size comes only with its end');
    o.ended('unadmitted', 20 * MiB);
    assert.equal(o.othersBytes('admitted', 0, 5_000), 20 * MiB);
    o.started('failed');
    o.ended('failed');
    assert.equal(o.othersBytes('admitted', 0, 6_000), undefined);
    assert.equal(
      o.othersBytes('failed', 0, 6_000),
      120 * MiB,
      'the size given stands for one that ended without a count',
    );
  });

  test('forgets the ended ones older than it keeps', () => {
    let now = 0;
    const o = new CheckpointOverlap(() => now, 10_000);
    o.started('old', 100 * MiB);
    now = 1_000;
    o.ended('old');
    now = 20_000;
    o.started('new', 10 * MiB);
    assert.equal(o.othersBytes('new', 0, 20_000), 0);
  });
});
