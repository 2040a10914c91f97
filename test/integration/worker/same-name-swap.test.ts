import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { RESTORED_FROM_ANNOTATION } from '../../../services/common/labels.js';
import type { Cluster, EvictResult } from '../../../services/worker/cluster.js';
import { RECREATED_FROM_ANNOTATION } from '../../../services/worker/migrate/fallback.js';
import { RESTORED_FROM_LABEL } from '../../../services/worker/restored-pod.js';
import { around, eventRef, isReady, TestBed, waitFor } from './harness.js';

/** Progress a migrate-pod job has saved (services/worker/migrate/context.ts). */
type Progress = { stage?: string };

/**
 * Same-name replacement (StatefulSet and bare pods): the copy takes the
 * original's name, so the original must go first. That removal is a drain's
 * (the Eviction API, PodDisruptionBudgets honoured), a copy that never runs
 * gives the name back to its controller, and a bare pod whose copy cannot
 * be made is created again from its spec: never lost, never doubled.
 */
describe('same-name swap: held back by a PodDisruptionBudget as a drain would be', () => {
  const bed = new TestBed('wswpdb');
  const source = bed.node('src');
  const target = bed.node('dst');
  const evictions: EvictResult[] = [];
  const recordEvictions = (cluster: Cluster) =>
    around(cluster, 'evictPod', async (real, namespace, name, uid, grace) => {
      const r = await real(namespace, name, uid, grace);
      if (namespace === bed.ns && name === 'solo') evictions.push(r);
      return r;
    });

  before(async () => {
    await bed.setUp({ nodes: [{ suffix: 'src' }, { suffix: 'dst', unschedulable: true }] });
    // A short fallback grace: the checkpoint fits a 30 s warning, and the PDB holds the swap for most of it.
    await bed.startWorker({
      extra: { SPOT_RESCUE_MAX_FALLBACK_GRACE_SECONDS: '1' },
      overrides: { wrapCluster: recordEvictions },
    });
  });
  after(() => bed.close());

  test('the original stays until the deadline forces it; then the copy takes its name and carries on', async () => {
    const original = await bed.soloPodToMove(source, target);
    await bed.k.policy.createNamespacedPodDisruptionBudget({
      namespace: bed.ns,
      body: {
        metadata: { name: 'solo' },
        spec: { minAvailable: 1, selector: { matchLabels: { app: 'solo' } } },
      },
    });
    await waitFor('the PDB to count the pod', async () => {
      const pdb = await bed.k.policy.readNamespacedPodDisruptionBudget({ name: 'solo', namespace: bed.ns });
      return pdb.status?.currentHealthy === 1 && pdb.status.disruptionsAllowed === 0;
    });
    const job = await bed.queues.migrate(
      eventRef(30_000),
      { name: source, instanceId: 'i-0123456789abcde30' },
      original,
    );

    await waitFor(
      'the swap to be refused by the PDB',
      async () => evictions.includes('blocked') || undefined,
      {
        timeoutMs: 30_000,
        intervalMs: 100,
      },
    );
    const held = await bed.pods();
    assert.deepEqual(
      held.map((p) => [p.metadata?.name, p.metadata?.uid]),
      [['solo', original.metadata?.uid]],
      'while the PDB holds, the original keeps its name and no copy exists',
    );
    const progress = (await bed.queues.rescue.getJob(job.id!))?.progress as Progress | undefined;
    assert.equal(progress?.stage, 'restored', 'the swap runs once the restore is done');

    const result = await bed.queues.result<{ outcome: string }>(job, 60_000);
    assert.equal(result?.outcome, 'restored', JSON.stringify(result));
    assert.ok(!evictions.includes('evicted'), `never evicted past the PDB: ${evictions.join(',')}`);
    const copy = await bed.waitRestoredCopy(original, source, target);
    assert.equal(copy.metadata?.name, 'solo', 'the copy took the original’s name');
  });
});

describe('same-name swap: a copy that never runs gives the name back to its StatefulSet', () => {
  const bed = new TestBed('wswstk');
  const { k, ns } = bed;
  const source = bed.node('src');
  const target = bed.node('dst');
  const spare = bed.node('spare');

  before(async () => {
    await bed.setUp({
      nodes: [
        { suffix: 'src' },
        { suffix: 'dst', unschedulable: true },
        { suffix: 'spare', unschedulable: true },
      ],
    });
    await bed.startWorker();
  });
  after(() => bed.close());

  test('the scheduler refuses the copy on its target: it is removed, and db-0 starts afresh elsewhere', async () => {
    await bed.createStatefulSet('db', bed.hostPortSpec('counter', 18081));
    const [original] = await bed.podsToMove(source, 1, [target]);
    // The only open node already has the host port taken: the copy pinned there can never run.
    await bed.holdHostPort(target, 18081);

    const [result] = await bed.migrateAll(
      eventRef(120_000),
      { name: source, instanceId: 'i-0123456789abcde31' },
      [original!],
      90_000,
    );
    // The original went for the swap: drained, as far as the pod's owner can tell.
    assert.equal(result?.outcome, 'evicted', JSON.stringify(result));
    assert.match(result?.reason ?? '', /scheduler refuses/);
    const copies = await k.core.listNamespacedPod({ namespace: ns, labelSelector: RESTORED_FROM_LABEL });
    assert.deepEqual(
      copies.items.filter((p) => !p.metadata?.deletionTimestamp).map((p) => p.metadata?.name),
      [],
      'the stuck copy is gone',
    );

    // With room elsewhere, the StatefulSet's own db-0 runs there: a fresh start, as after a drain.
    await bed.setSchedulable(spare, true);
    const settled = await bed.waitPods(
      'db-0 running on the spare node',
      (pods) => {
        const db = pods.filter((p) => p.metadata?.name === 'db-0');
        return db.length === 1 && isReady(db[0]!) && db[0]!.spec?.nodeName === spare;
      },
      60_000,
    );
    const db0 = settled.find((p) => p.metadata?.name === 'db-0') as V1Pod;
    assert.notEqual(db0.metadata?.uid, original!.metadata?.uid);
    assert.equal(db0.metadata?.annotations?.[RESTORED_FROM_ANNOTATION], undefined, 'not a restored copy');
    const sts = await k.apps.readNamespacedStatefulSet({ name: 'db', namespace: ns });
    assert.equal(sts.status?.readyReplicas, 1);
  });
});

describe('same-name swap: a bare pod whose copy cannot be created is created again from its spec', () => {
  const bed = new TestBed('wswbare');
  const source = bed.node('src');
  const target = bed.node('dst');
  let refused = 0;
  // The API refuses every restored copy (an admission webhook down, say); other pods pass.
  const refuseCopies = (cluster: Cluster) =>
    around(cluster, 'createPod', async (real, pod) => {
      if (pod.metadata?.namespace === bed.ns && pod.metadata.labels?.[RESTORED_FROM_LABEL]) {
        refused++;
        throw Object.assign(new Error('HTTP-Code: 500 Message: admission webhook unavailable'), {
          code: 500,
        });
      }
      return real(pod);
    });

  before(async () => {
    await bed.setUp({ nodes: [{ suffix: 'src' }, { suffix: 'dst', unschedulable: true }] });
    await bed.startWorker({ overrides: { wrapCluster: refuseCopies } });
  });
  after(() => bed.close());

  test('its node still alive, the pod comes back once, under its name, scheduled afresh', async () => {
    const original = await bed.soloPodToMove(source, target);
    const [result] = await bed.migrateAll(
      eventRef(120_000),
      { name: source, instanceId: 'i-0123456789abcde32' },
      [original],
      90_000,
    );
    assert.ok(refused >= 1, 'the copy was refused');
    assert.equal(result?.outcome, 'evicted', JSON.stringify(result));
    assert.match(result?.reason ?? '', /created again from its spec/);
    const [again] = await bed.waitPods(
      'solo running again',
      (pods) => pods.length === 1 && isReady(pods[0]!),
      60_000,
    );
    assert.equal(again!.metadata?.name, 'solo');
    assert.notEqual(again!.metadata?.uid, original.metadata?.uid);
    assert.equal(again!.metadata?.annotations?.[RECREATED_FROM_ANNOTATION], original.metadata?.uid);
    assert.equal(again!.metadata?.labels?.[RESTORED_FROM_LABEL], undefined, 'a fresh pod, not a copy');
    assert.equal(again!.spec?.nodeName, target, 'scheduled afresh, off the cordoned source');
  });
});
