import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { RESTORED_FROM_ANNOTATION } from '../../../services/common/labels.js';
import type { WorkerService } from '../../../services/worker/service.js';
import {
  type AgentProcess,
  cleanupDir,
  counterOf,
  createBucket,
  createNode,
  createOptedInNamespace,
  createWorkerIdentity,
  deleteBucket,
  eventRef,
  isReady,
  type Kube,
  kube,
  markInterrupted,
  podsOf,
  removeCounter,
  SIM_LABEL,
  s3,
  setSchedulable,
  startAgent,
  startCounter,
  startInProcessWorker,
  TestQueues,
  uniqueName,
  type WorkerIdentity,
  waitFor,
  waitJobsDone,
  waitNodeReady,
  workerEnv,
} from './harness.js';

/**
 * A spot warning for a node running a Deployment, a StatefulSet (with a
 * zonal volume) and a bare pod, every one backed by a real runc process on
 * the node's agent: the worker moves each to another node with its memory,
 * and the real kube-controller-manager ends with the right replica counts
 * and no fresh replica. (Jobs: kwok completes a Job's pods the moment they
 * run, so a running Job pod cannot exist here; job-owner.test.ts covers the
 * Job controller's side.)
 */
describe('worker: migrate a whole node', () => {
  const k: Kube = kube();
  const s3c = s3();
  const sim = uniqueName('wsim');
  const ns = sim;
  const prefix = uniqueName('wq');
  const bucket = uniqueName('wbkt');
  const source = `${sim}-src`;
  const targetA = `${sim}-a`; // other zone: the StatefulSet's volume cannot go there
  const targetB = `${sim}-b`;
  const agents: Record<string, AgentProcess> = {};
  let id: WorkerIdentity;
  let worker: WorkerService;
  let queues: TestQueues;
  const selector = { [SIM_LABEL]: sim };
  const container = (name = 'counter') => ({
    name,
    image: 'spot-rescue/counter',
    resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { memory: '64Mi' } },
  });

  before(async () => {
    await createOptedInNamespace(k, ns);
    id = await createWorkerIdentity(k, ns);
    await createBucket(s3c, bucket);
    await createNode(k, sim, { name: source, zone: 'us-east-1a' });
    await createNode(k, sim, {
      name: targetA,
      zone: 'us-east-1b',
      unschedulable: true,
      capacityType: 'on-demand',
    });
    await createNode(k, sim, {
      name: targetB,
      zone: 'us-east-1a',
      unschedulable: true,
      instanceType: 'c5.xlarge',
    });
    for (const n of [source, targetA, targetB]) await waitNodeReady(k, n);
    for (const n of [source, targetA, targetB]) agents[n] = await startAgent(n, id.serviceAccount);
    queues = new TestQueues(prefix);
    worker = await startInProcessWorker(
      workerEnv({
        prefix,
        bucket,
        tokenFile: id.tokenFile,
        agents: Object.fromEntries(Object.values(agents).map((a) => [a.node, a.url])),
      }),
    );
  });

  after(async () => {
    await worker?.close();
    await queues?.close();
    for (const a of Object.values(agents)) {
      for (const p of await podsOf(k, ns).catch(() => [] as V1Pod[])) {
        await removeCounter(a, id.token, ns, p.metadata?.name ?? '');
      }
      await a.stop();
    }
    await k.core.deleteNamespace({ name: ns }).catch(() => {});
    await k.core.deletePersistentVolume({ name: `${sim}-pv` }).catch(() => {});
    for (const n of [source, targetA, targetB]) await k.core.deleteNode({ name: n }).catch(() => {});
    await deleteBucket(s3c, bucket);
    if (id) await cleanupDir(id.dir);
  });

  test('every pod ends running elsewhere with its state; controllers keep their counts', async () => {
    // Workloads, all on the source node (the only schedulable one).
    await k.apps.createNamespacedDeployment({
      namespace: ns,
      body: {
        metadata: { name: 'web' },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: 'web' } },
          template: {
            metadata: { labels: { app: 'web' } },
            spec: { nodeSelector: selector, containers: [container()] },
          },
        },
      },
    });
    await k.core.createPersistentVolume({
      body: {
        metadata: { name: `${sim}-pv`, labels: { 'topology.kubernetes.io/zone': 'us-east-1a' } },
        spec: {
          capacity: { storage: '1Gi' },
          accessModes: ['ReadWriteOnce'],
          storageClassName: '',
          hostPath: { path: `/tmp/${sim}` },
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
    await k.apps.createNamespacedStatefulSet({
      namespace: ns,
      body: {
        metadata: { name: 'db' },
        spec: {
          replicas: 1,
          serviceName: 'db',
          selector: { matchLabels: { app: 'db' } },
          template: {
            metadata: { labels: { app: 'db' } },
            spec: { nodeSelector: selector, containers: [container()] },
          },
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
        },
      },
    });
    await k.core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: 'solo', labels: { app: 'solo' } },
        spec: { nodeSelector: selector, containers: [container()] },
      },
    });

    let seen = '';
    const originals = await waitFor(
      'four pods running on the source node',
      async () => {
        const pods = await podsOf(k, ns);
        seen = pods.map((p) => `${p.metadata?.name}:${p.status?.phase}@${p.spec?.nodeName}`).join(' ');
        return pods.length === 4 && pods.every((p) => isReady(p) && p.spec?.nodeName === source)
          ? pods
          : undefined;
      },
      { timeoutMs: 120_000 },
    ).catch((err: Error) => {
      throw new Error(`${err.message} (saw ${seen})`);
    });
    const src = agents[source]!;
    for (const p of originals) await startCounter(src, id.token, p);
    await waitFor(
      'every counter to run',
      async () => {
        for (const p of originals) {
          const c = await counterOf(src, id.token, ns, p.metadata!.name!);
          if (!c?.progress || c.progress['counter']! < 20) return undefined;
        }
        return true;
      },
      { timeoutMs: 30_000 },
    );

    // The interruption: the listener taints the node; capacity elsewhere opens up.
    await markInterrupted(k, source);
    await setSchedulable(k, targetA, true);
    await setSchedulable(k, targetB, true);
    const event = eventRef(120_000);
    const node = { name: source, instanceId: 'i-0123456789abcdef0' };
    const jobs = [];
    for (const p of originals) jobs.push(await queues.migrate(event, node, p));
    const results = (await waitJobsDone(
      queues.rescue,
      jobs.map((j) => j.id!),
      120_000,
    )) as { outcome: string; target: string; restoredPod: string }[];
    assert.deepEqual(
      results.map((r) => r.outcome),
      originals.map(() => 'restored'),
      JSON.stringify(results),
    );

    // Each original has exactly one restored copy, running on another node, with its counter going on.
    const settled = await waitFor(
      'controllers to settle on the restored pods',
      async () => {
        const pods = await podsOf(k, ns);
        seen = pods
          .map(
            (p) =>
              `${p.metadata?.name}:${p.status?.phase}@${p.spec?.nodeName}:${JSON.stringify(p.metadata?.labels)}`,
          )
          .join(' ');
        const web = pods.filter((p) => p.metadata?.labels?.['app'] === 'web');
        const d = await k.apps.readNamespacedDeployment({ name: 'web', namespace: ns });
        if (web.length !== 2 || d.status?.readyReplicas !== 2) return undefined;
        if (pods.length !== 4 || !pods.every(isReady)) return undefined;
        return pods;
      },
      { timeoutMs: 90_000 },
    ).catch((err: Error) => {
      throw new Error(`${err.message} (saw ${seen}) results ${JSON.stringify(results)}`);
    });
    for (const orig of originals) {
      const uid = orig.metadata!.uid!;
      const copies = settled.filter((p) => p.metadata?.annotations?.[RESTORED_FROM_ANNOTATION] === uid);
      assert.equal(copies.length, 1, `one restored copy of ${orig.metadata!.name}`);
      const copy = copies[0]!;
      assert.notEqual(copy.spec?.nodeName, source);
      assert.ok([targetA, targetB].includes(copy.spec!.nodeName!));
      const before = (await counterOf(src, id.token, ns, orig.metadata!.name!))?.progress;
      const agent = agents[copy.spec!.nodeName!]!;
      const after = await waitFor(`${copy.metadata!.name} to count on`, async () => {
        const c = await counterOf(agent, id.token, ns, copy.metadata!.name!);
        return c?.status === 'running' && c.progress && c.progress['counter']! > (before?.['counter'] ?? 0)
          ? c
          : undefined;
      });
      assert.equal(after.progress?.['corrupt'], 0, 'memory came back intact');
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

    const metrics = await worker.metrics.outcomes.get();
    const restored = metrics.values.find((v) => v.labels.outcome === 'restored')?.value;
    assert.equal(restored, 4);
  });
});
