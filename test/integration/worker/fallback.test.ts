import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { WorkerService } from '../../../services/worker/service.js';
import {
  cleanupDir,
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
  SIM_LABEL,
  s3,
  setSchedulable,
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
 * Too little time before the node dies: the worker does not start a
 * checkpoint it cannot finish, and drains the pods instead, retrying while a
 * PodDisruptionBudget refuses and deleting once only the grace period is left.
 */
describe('worker: out of budget falls back to eviction', () => {
  const k: Kube = kube();
  const s3c = s3();
  const sim = uniqueName('wfb');
  const ns = sim;
  const prefix = uniqueName('wq');
  const bucket = uniqueName('wbkt');
  const source = `${sim}-src`;
  const spare = `${sim}-spare`;
  let id: WorkerIdentity;
  let worker: WorkerService;
  let queues: TestQueues;

  before(async () => {
    await createOptedInNamespace(k, ns);
    id = await createWorkerIdentity(k, ns);
    await createBucket(s3c, bucket);
    await createNode(k, sim, { name: source });
    await createNode(k, sim, { name: spare, unschedulable: true });
    for (const n of [source, spare]) await waitNodeReady(k, n);
    queues = new TestQueues(prefix);
    // No agent at all: a checkpoint attempted here would fail, so an eviction proves the budget said no first.
    worker = await startInProcessWorker(
      workerEnv({
        prefix,
        bucket,
        tokenFile: id.tokenFile,
        agents: {},
        extra: { SPOT_RESCUE_EVICTION_LEAD_MS: '2000' },
      }),
    );
  });

  after(async () => {
    await worker?.close();
    await queues?.close();
    await k.core.deleteNamespace({ name: ns }).catch(() => {});
    for (const n of [source, spare]) await k.core.deleteNode({ name: n }).catch(() => {});
    await deleteBucket(s3c, bucket);
    if (id) await cleanupDir(id.dir);
  });

  test('pods are evicted (PDB retried, then deleted) and their controller replaces them elsewhere', async () => {
    await k.apps.createNamespacedDeployment({
      namespace: ns,
      body: {
        metadata: { name: 'web' },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: 'web' } },
          template: {
            metadata: { labels: { app: 'web' } },
            spec: {
              terminationGracePeriodSeconds: 1,
              nodeSelector: { [SIM_LABEL]: sim },
              containers: [
                {
                  name: 'c',
                  image: 'x',
                  resources: { requests: { memory: '1Gi' }, limits: { memory: '1Gi' } },
                },
              ],
            },
          },
        },
      },
    });
    // A budget that allows no disruption: only the deadline can override it.
    await k.policy.createNamespacedPodDisruptionBudget({
      namespace: ns,
      body: {
        metadata: { name: 'web' },
        spec: { minAvailable: 2, selector: { matchLabels: { app: 'web' } } },
      },
    });
    const originals = await waitFor(
      'two pods on the source node',
      async () => {
        const pods = await podsOf(k, ns);
        return pods.length === 2 && pods.every(isReady) ? pods : undefined;
      },
      { timeoutMs: 120_000 },
    );
    await waitFor('the PDB to see them', async () => {
      const pdb = await k.policy.readNamespacedPodDisruptionBudget({ name: 'web', namespace: ns });
      return pdb.status?.currentHealthy === 2;
    });
    await markInterrupted(k, source);
    await setSchedulable(k, spare, true);
    // 12 s left: 1 GiB at the default 50 MiB/s needs ~20 s, so the budget says evict.
    const event = eventRef(12_000);
    const node = { name: source, instanceId: 'i-0123456789abcdef1' };
    const jobs = [];
    for (const p of originals) jobs.push(await queues.migrate(event, node, p));
    const results = (await waitJobsDone(
      queues.rescue,
      jobs.map((j) => j.id!),
      60_000,
    )) as { outcome: string; reason: string }[];
    for (const r of results) {
      assert.equal(r.outcome, 'evicted');
      assert.match(r.reason, /out of budget/);
    }
    const replaced = await waitFor(
      'the Deployment to replace both pods on the spare node',
      async () => {
        const pods = await podsOf(k, ns);
        return pods.length === 2 && pods.every((p) => isReady(p) && p.spec?.nodeName === spare)
          ? pods
          : undefined;
      },
      { timeoutMs: 60_000 },
    );
    assert.ok(replaced.every((p) => !originals.some((o) => o.metadata?.uid === p.metadata?.uid)));
    const events = (await k.core.listNamespacedEvent({ namespace: ns })).items;
    assert.equal(events.filter((e) => e.reason === 'RescueFellBackToEviction').length, 2);
    assert.equal(events.filter((e) => e.reason === 'RescueStarted').length, 0, 'no checkpoint was started');
  });
});
