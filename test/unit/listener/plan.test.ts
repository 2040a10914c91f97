import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import type { EventRef } from '../../../services/common/events.js';
import { parseProviderId } from '../../../services/common/provider-id.js';
import { planNode } from '../../../services/listener/plan.js';

const NOW = Date.parse('2026-09-01T12:00:30.000Z');
const event: EventRef = {
  id: 'ev-1',
  kind: 'spot-interruption',
  deadline: '2026-09-01T12:02:00.000Z',
  receivedAt: '2026-09-01T12:00:30.000Z',
  eventTime: '2026-09-01T12:00:00.000Z',
};
const node = { name: 'node-a', instanceId: 'i-0abc123def4567890', zone: 'us-east-1a' };

function pod(
  name: string,
  extra: {
    ns?: string;
    annotations?: Record<string, string>;
    owner?: string;
    phase?: string;
    deleting?: boolean;
    memory?: string;
  } = {},
): V1Pod {
  return {
    metadata: {
      name,
      namespace: extra.ns ?? 'apps',
      uid: `uid-${name}`,
      ...(extra.annotations ? { annotations: extra.annotations } : {}),
      ...(extra.owner
        ? {
            ownerReferences: [
              { apiVersion: 'apps/v1', kind: extra.owner, name: 'o', uid: 'o', controller: true },
            ],
          }
        : {}),
      ...(extra.deleting ? { deletionTimestamp: new Date() } : {}),
    },
    spec: {
      nodeName: 'node-a',
      containers: extra.memory ? [{ name: 'app', resources: { requests: { memory: extra.memory } } }] : [],
    },
    status: { phase: extra.phase ?? 'Running' },
  };
}

const labels: Record<string, Record<string, string>> = {
  'opted-ns': { 'spot-rescue.io/migrate': 'enabled' },
};
const plan = (pods: V1Pod[], unoptedPods: 'evict' | 'ignore' = 'evict') =>
  planNode({
    event,
    node,
    pods,
    namespaceLabels: (ns) => labels[ns],
    unoptedPods,
    podDeadline: event.deadline!,
    now: NOW,
  });

describe('planning the pods of a doomed node', () => {
  const pods = [
    pod('annotated', { annotations: { 'spot-rescue.io/migrate': 'true' }, memory: '1Gi' }),
    pod('in-opted-ns', { ns: 'opted-ns', memory: '16Mi' }),
    pod('plain', { owner: 'ReplicaSet' }),
    pod('annotated-false', { annotations: { 'spot-rescue.io/migrate': 'false' } }),
    pod('ds', { owner: 'DaemonSet', annotations: { 'spot-rescue.io/migrate': 'true' } }),
    pod('mirror', { annotations: { 'kubernetes.io/config.mirror': 'abc' } }),
    pod('done', { phase: 'Succeeded' }),
    pod('failed', { phase: 'Failed' }),
    pod('terminating', { deleting: true }),
  ];

  it('opted-in pods migrate, the rest are evicted, DaemonSet/mirror/finished pods are skipped', () => {
    const p = plan(pods);
    const byName = Object.fromEntries(
      p.jobs
        .filter((j) => j.name !== 'finalize-node')
        .map((j) => [(j.data as { pod: { name: string } }).pod.name, j]),
    );
    assert.deepEqual(Object.keys(byName).sort(), ['annotated', 'annotated-false', 'in-opted-ns', 'plain']);
    assert.equal(byName['annotated']!.name, 'migrate-pod');
    assert.equal(byName['annotated']!.queue, 'rescue');
    assert.equal(byName['in-opted-ns']!.name, 'migrate-pod');
    assert.equal(byName['plain']!.name, 'evict-pod');
    assert.equal(byName['plain']!.queue, 'evict');
    assert.equal(byName['annotated-false']!.name, 'evict-pod');
    assert.deepEqual(p.skipped.map((s) => s.pod).sort(), [
      'apps/done',
      'apps/ds',
      'apps/failed',
      'apps/mirror',
      'apps/terminating',
    ]);
  });

  it('one finalize-node job listing the planned pods, with the event and its deadline', () => {
    const p = plan(pods);
    const fin = p.jobs.filter((j) => j.name === 'finalize-node');
    assert.equal(fin.length, 1);
    assert.equal(fin[0]!.queue, 'finalize');
    assert.equal(fin[0]!.jobId, 'finalize-node__ev-1__i-0abc123def4567890');
    assert.deepEqual(fin[0]!.data, {
      event,
      node,
      podUids: ['uid-annotated', 'uid-annotated-false', 'uid-plain', 'uid-in-opted-ns'],
      deadline: event.deadline,
    });
  });

  it('job ids come from the event and pod uid, priority from the deadline and size: planning twice gives the same jobs', () => {
    const a = plan(pods);
    const b = plan([...pods].reverse());
    assert.deepEqual(a, b);
    const migrate = a.jobs.find((j) => j.name === 'migrate-pod')!;
    assert.equal(migrate.jobId, 'migrate-pod__ev-1__uid-annotated');
    // 90 s left: the 18th five-second step; 1 GiB is 40 quarter-octaves above 1 MiB.
    assert.equal(migrate.priority, 18 * 64 + 40 + 1);
    const small = a.jobs.find((j) => j.name === 'migrate-pod' && j.data.pod.name === 'in-opted-ns')!;
    assert.ok(small.priority < migrate.priority, 'the 16 MiB pod is checkpointed before the 1 GiB one');
    const evict = a.jobs.find((j) => j.name === 'evict-pod')!;
    assert.equal(evict.priority, 90, 'evictions keep plain deadline order');
    assert.deepEqual(migrate.data, {
      event,
      node,
      pod: { namespace: 'apps', name: 'annotated', uid: 'uid-annotated' },
      deadline: event.deadline,
    });
  });

  it('left to another drainer when configured: no evict jobs, migrations still planned', () => {
    const p = plan(pods, 'ignore');
    assert.deepEqual(p.jobs.map((j) => j.name).sort(), ['finalize-node', 'migrate-pod', 'migrate-pod']);
    assert.deepEqual(
      (p.jobs.find((j) => j.name === 'finalize-node')!.data as { podUids: string[] }).podUids,
      ['uid-annotated', 'uid-in-opted-ns'],
    );
  });

  it('an empty node still gets its finalize-node job', () => {
    assert.deepEqual(
      plan([]).jobs.map((j) => j.name),
      ['finalize-node'],
    );
  });
});

describe('provider ids', () => {
  it('aws:///<zone>/<instance-id>', () => {
    assert.deepEqual(parseProviderId('aws:///us-east-1a/i-0abc123def4567890'), {
      zone: 'us-east-1a',
      instanceId: 'i-0abc123def4567890',
    });
    assert.equal(parseProviderId('kwok://node-1'), undefined);
    assert.equal(parseProviderId(undefined), undefined);
  });
});
