import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApiException, type V1Node } from '@kubernetes/client-node';
import { TAINT_KEY } from '../../../services/common/labels.js';
import { taintPatch, taintPatchOutcome, taintsWith } from '../../../services/listener/node-taint.js';

const ours = (kind: string) => ({ key: TAINT_KEY, value: kind, effect: 'NoSchedule' });

describe('the taint', () => {
  const base: V1Node = {
    metadata: { name: 'n' },
    spec: { taints: [{ key: 'other', value: 'x', effect: 'NoExecute' }] },
  };

  it('adds ours next to existing taints', () => {
    assert.deepEqual(taintsWith(base, 'spot-interruption'), [
      { key: 'other', value: 'x', effect: 'NoExecute' },
      ours('spot-interruption'),
    ]);
  });

  it('replaces an earlier kind, and is a no-op when already tainted with this kind and cordoned', () => {
    const tainted: V1Node = {
      metadata: { name: 'n' },
      spec: { unschedulable: true, taints: [ours('rebalance-recommendation')] },
    };
    assert.deepEqual(taintsWith(tainted, 'spot-interruption'), [ours('spot-interruption')]);
    assert.equal(taintsWith(tainted, 'rebalance-recommendation'), undefined);
    assert.notEqual(
      taintsWith({ ...tainted, spec: { ...tainted.spec, unschedulable: false } }, 'rebalance-recommendation'),
      undefined,
    );
  });
});

describe('the taint patch', () => {
  it('tests the taints it read, then writes the list with ours and cordons', () => {
    const node: V1Node = {
      metadata: { name: 'n' },
      spec: { taints: [{ key: 'other', value: 'x', effect: 'NoExecute' }] },
    };
    assert.deepEqual(taintPatch(node, 'spot-interruption'), [
      { op: 'test', path: '/spec/taints', value: [{ key: 'other', value: 'x', effect: 'NoExecute' }] },
      {
        op: 'add',
        path: '/spec/taints',
        value: [{ key: 'other', value: 'x', effect: 'NoExecute' }, ours('spot-interruption')],
      },
      { op: 'add', path: '/spec/unschedulable', value: true },
    ]);
  });

  it('tests an absent list as null (an empty list is absent on the wire)', () => {
    for (const spec of [{}, { taints: [] }]) {
      const patch = taintPatch({ metadata: { name: 'n' }, spec }, 'spot-interruption');
      assert.deepEqual(patch?.[0], { op: 'test', path: '/spec/taints', value: null });
    }
  });

  it('writes times and empty values as the API server does, whether read from a list (Date) or a watch (string)', () => {
    const fromList: V1Node = {
      metadata: { name: 'n' },
      spec: {
        taints: [
          {
            key: 'node.kubernetes.io/unreachable',
            effect: 'NoExecute',
            timeAdded: new Date('2026-09-01T12:00:05Z'),
          },
          { key: 'dedicated', value: '', effect: 'NoSchedule' },
        ],
      },
    };
    const fromWatch = {
      metadata: { name: 'n' },
      spec: {
        taints: [
          { key: 'node.kubernetes.io/unreachable', effect: 'NoExecute', timeAdded: '2026-09-01T12:00:05Z' },
          { key: 'dedicated', effect: 'NoSchedule' },
        ],
      },
    } as unknown as V1Node;
    const wire = [
      { key: 'node.kubernetes.io/unreachable', effect: 'NoExecute', timeAdded: '2026-09-01T12:00:05Z' },
      { key: 'dedicated', effect: 'NoSchedule' },
    ];
    for (const node of [fromList, fromWatch]) {
      const patch = taintPatch(node, 'spot-interruption');
      assert.equal(JSON.stringify(patch?.[0]?.value), JSON.stringify(wire));
    }
  });

  it('is nothing when the node is already tainted with this kind and cordoned; cordons again when uncordoned', () => {
    const done: V1Node = {
      metadata: { name: 'n' },
      spec: { unschedulable: true, taints: [ours('spot-interruption')] },
    };
    assert.equal(taintPatch(done, 'spot-interruption'), undefined);
    const uncordoned = taintPatch(
      { ...done, spec: { ...done.spec, unschedulable: false } },
      'spot-interruption',
    );
    assert.deepEqual(uncordoned?.at(-1), { op: 'add', path: '/spec/unschedulable', value: true });
  });
});

describe('what became of a taint patch, for the metric', () => {
  it('422 is the test of the taints failing, 409 a conflict the API server gave up on, anything else an error', () => {
    const answer = (code: number) => new ApiException(code, 'refused', {}, {});
    assert.equal(taintPatchOutcome(answer(422)), 'taints-changed');
    assert.equal(taintPatchOutcome(answer(409)), 'conflict');
    assert.equal(taintPatchOutcome(answer(403)), 'error');
    assert.equal(taintPatchOutcome(new Error('socket hang up')), 'error');
  });
});
