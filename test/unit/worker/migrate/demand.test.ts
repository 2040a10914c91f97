import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import {
  DEMAND_FOR_LABEL,
  demandPlaceholder,
  isOwnPlaceholder,
} from '../../../../services/worker/migrate/demand.js';

const original: V1Pod = {
  metadata: { name: 'db-0', namespace: 'ns', uid: 'uid-1', labels: { app: 'db' } },
  spec: {
    nodeName: 'doomed',
    nodeSelector: { pool: 'general' },
    tolerations: [{ key: 'spot', operator: 'Exists' }],
    affinity: {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [{ matchExpressions: [{ key: 'arch', operator: 'In', values: ['amd64'] }] }],
        },
      },
    },
    containers: [
      {
        name: 'app',
        image: 'app:1',
        resources: { requests: { cpu: '2', memory: '4Gi' }, limits: { memory: '4Gi' } },
      },
    ],
  },
};

describe('demand placeholder', () => {
  it('asks for the pod’s requests under the pod’s node constraints, and nothing else', () => {
    const p = demandPlaceholder(original, ['us-east-1a']);
    assert.deepEqual(
      p.metadata?.labels,
      { [DEMAND_FOR_LABEL]: 'uid-1' },
      'no app label: no controller or service counts it',
    );
    assert.equal(
      p.spec?.nodeName,
      undefined,
      'left to the scheduler, so the autoscaler sees it unschedulable',
    );
    assert.deepEqual(
      p.spec?.containers.map((c) => c.resources),
      [{ requests: { cpu: '2', memory: '4Gi' } }],
    );
    assert.notEqual(p.spec?.containers[0]?.image, 'app:1');
    assert.deepEqual(p.spec?.nodeSelector, { pool: 'general' });
    assert.deepEqual(p.spec?.tolerations, original.spec?.tolerations);
    const terms =
      p.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
    assert.deepEqual(terms, [
      {
        matchExpressions: [
          { key: 'arch', operator: 'In', values: ['amd64'] },
          { key: 'topology.kubernetes.io/zone', operator: 'In', values: ['us-east-1a'] },
        ],
      },
    ]);
    assert.equal(p.metadata?.name, demandPlaceholder(original, []).metadata?.name, 'one per pod');
    assert.ok(isOwnPlaceholder(p, 'uid-1'));
    assert.ok(!isOwnPlaceholder(p, 'uid-2'));
  });
});
