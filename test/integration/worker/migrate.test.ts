import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { RESTORED_FROM_ANNOTATION } from '../../../services/common/labels.js';
import { counterContainer, eventRef, isReady, TestBed } from './harness.js';

/**
 * A spot warning for a node running a Deployment, a StatefulSet (with a
 * zonal volume) and a bare pod, every one backed by a real runc process on
 * the node's agent: the worker moves each to another node with its memory,
 * and the real kube-controller-manager ends with the right replica counts
 * and no fresh replica. (A Job's pod: job.test.ts.)
 */
describe('worker: migrate a whole node', () => {
  const bed = new TestBed('wsim');
  const { k, ns } = bed;
  const source = bed.node('src');
  const targetA = bed.node('a'); // other zone: the StatefulSet's volume cannot go there
  const targetB = bed.node('b');
  const pv = `${bed.sim}-pv`;
  const container = () =>
    counterContainer({ requests: { cpu: '100m', memory: '64Mi' }, limits: { memory: '64Mi' } });

  before(async () => {
    await bed.setUp({
      nodes: [
        { suffix: 'src', zone: 'us-east-1a' },
        { suffix: 'a', zone: 'us-east-1b', unschedulable: true, capacityType: 'on-demand' },
        { suffix: 'b', zone: 'us-east-1a', unschedulable: true, instanceType: 'c5.xlarge' },
      ],
    });
    bed.onClose(() => k.core.deletePersistentVolume({ name: pv }));
    await bed.startWorker();
  });

  after(() => bed.close());

  test('every pod ends running elsewhere with its state; controllers keep their counts', async () => {
    // Workloads, all on the source node (the only schedulable one).
    await bed.createDeployment('web', 2, bed.podSpec([container()]));
    await k.core.createPersistentVolume({
      body: {
        metadata: { name: pv, labels: { 'topology.kubernetes.io/zone': 'us-east-1a' } },
        spec: {
          capacity: { storage: '1Gi' },
          accessModes: ['ReadWriteOnce'],
          storageClassName: '',
          hostPath: { path: `/tmp/${bed.sim}` },
          claimRef: { namespace: ns, name: 'data-db-0' },
          nodeAffinity: {
            required: {
              nodeSelectorTerms: [
                {
                  matchExpressions: [
                    { key: 'topology.kubernetes.io/zone', operator: 'In', values: ['us-east-1a'] },
                  ],
                },
              ],
            },
          },
        },
      },
    });
    await bed.createStatefulSet('db', bed.podSpec([container()]), {
      volumeClaimTemplates: [
        {
          metadata: { name: 'data' },
          spec: {
            accessModes: ['ReadWriteOnce'],
            storageClassName: '',
            resources: { requests: { storage: '1Gi' } },
          },
        },
      ],
    });
    await bed.createPod('solo', bed.podSpec([container()]));

    // The four counting on the source; the interruption: the listener taints the node, capacity
    // elsewhere opens up.
    const originals = await bed.podsToMove(source, 4, [targetA, targetB]);
    const event = eventRef(120_000);
    const node = { name: source, instanceId: 'i-0123456789abcdef0' };
    const results = await bed.migrateAll(event, node, originals);
    assert.deepEqual(
      results.map((r) => r.outcome),
      originals.map(() => 'restored'),
      JSON.stringify(results),
    );

    // Each original has exactly one restored copy, running on another node, with its counter going on.
    const settled = await bed
      .waitPods(
        'controllers to settle on the restored pods',
        async (pods) => {
          const web = pods.filter((p) => p.metadata?.labels?.['app'] === 'web');
          const d = await k.apps.readNamespacedDeployment({ name: 'web', namespace: ns });
          return (
            web.length === 2 && d.status?.readyReplicas === 2 && pods.length === 4 && pods.every(isReady)
          );
        },
        90_000,
      )
      .catch((err: Error) => {
        throw new Error(`${err.message} results ${JSON.stringify(results)}`);
      });
    for (const orig of originals) {
      const uid = orig.metadata!.uid!;
      const copies = settled.filter((p) => p.metadata?.annotations?.[RESTORED_FROM_ANNOTATION] === uid);
      assert.equal(copies.length, 1, `one restored copy of ${orig.metadata!.name}`);
      const copy = copies[0]!;
      assert.notEqual(copy.spec?.nodeName, source);
      assert.ok([targetA, targetB].includes(copy.spec!.nodeName!));
      const after = await bed.waitContinued(
        { node: source, pod: orig.metadata!.name! },
        { node: copy.spec!.nodeName!, pod: copy.metadata!.name! },
      );
      assert.equal(after['corrupt'], 0, 'memory came back intact');
    }
    assert.equal(settled.filter((p) => p.spec?.nodeName === source).length, 0, 'the source node is empty');

    // StatefulSet: same name, same claim, in its volume's zone.
    const db = settled.find((p) => p.metadata?.name === 'db-0')!;
    assert.equal(
      db.metadata?.annotations?.[RESTORED_FROM_ANNOTATION],
      originals.find((p) => p.metadata?.name === 'db-0')!.metadata!.uid,
    );
    assert.equal(db.spec?.nodeName, targetB, 'the volume is in us-east-1a');
    assert.equal(
      db.spec?.volumes?.find((v) => v.name === 'data')?.persistentVolumeClaim?.claimName,
      'data-db-0',
    );
    const sts = await k.apps.readNamespacedStatefulSet({ name: 'db', namespace: ns });
    assert.equal(sts.status?.replicas, 1);

    // Bare pod: same name.
    const solo = settled.find((p) => p.metadata?.name === 'solo')!;
    assert.ok(solo.metadata?.annotations?.[RESTORED_FROM_ANNOTATION]);

    // Deployment: exactly two replicas, the restored ones.
    const web = settled.filter((p) => p.metadata?.labels?.['app'] === 'web');
    assert.ok(web.every((p) => p.metadata?.annotations?.[RESTORED_FROM_ANNOTATION]));

    // Events on the pods for each step.
    const events = (await k.core.listNamespacedEvent({ namespace: ns })).items.map((e) => e.reason);
    for (const r of ['RescueStarted', 'Checkpointed', 'Restored'])
      assert.ok(events.includes(r), `${r} event`);

    const metrics = await bed.worker!.metrics.outcomes.get();
    const restored = metrics.values.find((v) => v.labels.outcome === 'restored')?.value;
    assert.equal(restored, 4);
  });
});
