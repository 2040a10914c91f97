import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { RESTORED_FROM_ANNOTATION } from '../../../services/common/labels.js';
import { podDemand } from '../../../services/worker/node-view.js';
import { pinnedTo } from '../../../services/worker/restored-pod.js';

const zoneTerm = {
  matchExpressions: [{ key: 'topology.kubernetes.io/zone', operator: 'In', values: ['us-east-1a'] }],
};

const restoredOn = (node: string, own?: V1Pod['spec']): V1Pod => ({
  metadata: { name: 'db-0', annotations: { [RESTORED_FROM_ANNOTATION]: 'uid-original' } },
  spec: {
    containers: [{ name: 'app' }],
    nodeName: node,
    affinity: pinnedTo(own?.affinity, node),
  },
});

test('a pod restored once is placed again by its own constraints, not by the pin to the node it landed on', () => {
  const bare = podDemand(restoredOn('spot-b'), undefined, []);
  assert.deepEqual(bare.requiredTerms, [], 'only the pin was there');

  const zoned = podDemand(
    restoredOn('spot-b', {
      containers: [],
      affinity: {
        nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [zoneTerm] } },
      },
    }),
    undefined,
    [],
  );
  assert.deepEqual(
    zoned.requiredTerms,
    [{ ...zoneTerm, matchFields: [] }],
    'its zone term stays, the pin goes',
  );
});

test('a pod nobody restored keeps a name match of its own', () => {
  const own: V1Pod = {
    metadata: { name: 'pinned' },
    spec: {
      containers: [],
      affinity: pinnedTo(undefined, 'chosen-by-user'),
    },
  };
  assert.deepEqual(podDemand(own, undefined, []).requiredTerms, [
    { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['chosen-by-user'] }] },
  ]);
});
