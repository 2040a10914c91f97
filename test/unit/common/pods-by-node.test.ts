import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { PodsByNode, podName, podUid } from '../../../services/common/pods-by-node.js';

const pod = (name: string, node: string | undefined, uid = `uid-${name}`): V1Pod => ({
  metadata: { name, namespace: 'ns', uid },
  spec: { containers: [], ...(node ? { nodeName: node } : {}) },
});
const names = (pods: V1Pod[]) => pods.map((p) => `${p.metadata?.name}@${p.metadata?.uid}`);

describe('pods by node', () => {
  it('by uid, two incarnations of one name are two entries until one is deleted', () => {
    const idx = new PodsByNode(podUid);
    idx.upsert(pod('s-0', 'n1', 'old'));
    idx.upsert(pod('s-0', 'n1', 'new'));
    assert.deepEqual(names(idx.on(['n1'])), ['s-0@old', 's-0@new']);
    idx.remove(pod('s-0', 'n1', 'old'));
    assert.deepEqual(names(idx.on(['n1'])), ['s-0@new']);
  });

  it('by name, the newer incarnation takes the entry', () => {
    const idx = new PodsByNode(podName);
    idx.upsert(pod('s-0', 'n1', 'old'));
    idx.upsert(pod('s-0', 'n1', 'new'));
    assert.deepEqual(names(idx.on(['n1'])), ['s-0@new']);
    assert.equal(idx.indexed(pod('s-0', 'n1', 'other'))?.metadata?.uid, 'new');
  });

  it('a pod without a key is not indexed; one unbound leaves its node', () => {
    const idx = new PodsByNode(podUid);
    idx.upsert({ metadata: { name: 'x' }, spec: { containers: [], nodeName: 'n1' } });
    idx.upsert(pod('a', 'n1'));
    assert.deepEqual(names(idx.on(['n1'])), ['a@uid-a']);
    idx.upsert(pod('a', undefined));
    assert.deepEqual(idx.on(['n1']), []);
    assert.equal(idx.size(), 0);
  });
});
