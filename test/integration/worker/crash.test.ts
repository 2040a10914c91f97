import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { RESTORED_FROM_ANNOTATION } from '../../../services/common/labels.js';
import {
  type AgentProcess,
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
  removeCounter,
  SIM_LABEL,
  s3,
  setSchedulable,
  spawnWorker,
  startAgent,
  startCounter,
  TestQueues,
  uniqueName,
  type WorkerIdentity,
  waitFor,
  waitJobsDone,
  waitNodeReady,
  workerEnv,
} from './harness.js';

/**
 * A worker process killed (SIGKILL) in the middle of a migration: its job is
 * picked up by another worker once the lock lapses, carries on from what was
 * done, and every pod ends with exactly one running copy.
 */
describe('worker: killed mid-migration', () => {
  const k: Kube = kube();
  const s3c = s3();
  const sim = uniqueName('wkill');
  const ns = sim;
  const prefix = uniqueName('wq');
  const bucket = uniqueName('wbkt');
  const source = `${sim}-src`;
  const target = `${sim}-dst`;
  const agents: Record<string, AgentProcess> = {};
  const children: ChildProcess[] = [];
  let id: WorkerIdentity;
  let queues: TestQueues;
  let env: Record<string, string>;

  before(async () => {
    await createOptedInNamespace(k, ns);
    id = await createWorkerIdentity(k, ns);
    await createBucket(s3c, bucket);
    await createNode(k, sim, { name: source });
    await createNode(k, sim, { name: target, unschedulable: true });
    for (const n of [source, target]) await waitNodeReady(k, n);
    for (const n of [source, target]) agents[n] = await startAgent(n, id.serviceAccount);
    queues = new TestQueues(prefix);
    env = workerEnv({
      prefix,
      bucket,
      tokenFile: id.tokenFile,
      agents: Object.fromEntries(Object.values(agents).map((a) => [a.node, a.url])),
      // One job at a time, so the kill lands while jobs are still in flight.
      extra: { SPOT_RESCUE_WORKER_CONCURRENCY: '1', SPOT_RESCUE_LOG_LEVEL: 'info' },
    });
  });

  after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await queues?.close();
    for (const a of Object.values(agents)) {
      for (const p of await podsOf(k, ns).catch(() => []))
        await removeCounter(a, id.token, ns, p.metadata?.name ?? '');
      await a.stop();
    }
    await k.core.deleteNamespace({ name: ns }).catch(() => {});
    for (const n of [source, target]) await k.core.deleteNode({ name: n }).catch(() => {});
    await deleteBucket(s3c, bucket);
    if (id) await cleanupDir(id.dir);
  });

  test('exactly one copy of each pod after a SIGKILL and a second worker', async (t) => {
    const spec = {
      nodeSelector: { [SIM_LABEL]: sim },
      containers: [
        { name: 'counter', image: 'spot-rescue/counter', resources: { requests: { cpu: '100m' } } },
      ],
    };
    await k.apps.createNamespacedDeployment({
      namespace: ns,
      body: {
        metadata: { name: 'web' },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: 'web' } },
          template: { metadata: { labels: { app: 'web' } }, spec },
        },
      },
    });
    await k.core.createNamespacedPod({ namespace: ns, body: { metadata: { name: 'solo' }, spec } });
    const originals = await waitFor(
      'three pods on the source node',
      async () => {
        const pods = await podsOf(k, ns);
        return pods.length === 3 && pods.every(isReady) ? pods : undefined;
      },
      { timeoutMs: 120_000 },
    );
    for (const p of originals) await startCounter(agents[source]!, id.token, p);
    await markInterrupted(k, source);
    await setSchedulable(k, target, true);

    const first = spawnWorker(env);
    children.push(first.child);
    const event = eventRef(120_000);
    const jobs = await Promise.all(
      originals.map((p) => queues.migrate(event, { name: source, instanceId: 'i-0123456789abcdef3' }, p)),
    );

    // Kill the worker as soon as a job is past its checkpoint but not finished.
    const killedAt = await waitFor(
      'a job in the middle of its migration',
      async () => {
        for (const j of jobs) {
          const job = await queues.rescue.getJob(j.id!);
          const stage = (job?.progress as { stage?: string } | undefined)?.stage;
          if (
            job &&
            (await job.getState()) === 'active' &&
            stage &&
            stage !== 'done' &&
            stage !== 'started'
          ) {
            return stage;
          }
        }
        return undefined;
      },
      { timeoutMs: 60_000, intervalMs: 20 },
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${first.logs.join('').slice(-3000)}`);
    });
    first.child.kill('SIGKILL');
    await new Promise((r) => first.child.once('exit', r));

    const second = spawnWorker(env);
    children.push(second.child);
    const results = (await waitJobsDone(
      queues.rescue,
      jobs.map((j) => j.id!),
      120_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${second.logs.join('').slice(-3000)}`);
    })) as { outcome: string }[];
    second.child.kill('SIGTERM');

    let seen = '';
    const settled = await waitFor(
      'three running pods, none on the source',
      async () => {
        const pods = await podsOf(k, ns);
        seen = pods.map((p) => `${p.metadata?.name}:${p.status?.phase}@${p.spec?.nodeName}`).join(' ');
        return pods.length === 3 && pods.every((p) => isReady(p) && p.spec?.nodeName === target)
          ? pods
          : undefined;
      },
      { timeoutMs: 60_000 },
    ).catch((err: Error) => {
      throw new Error(`${err.message} (saw ${seen}; killed at ${killedAt}; ${JSON.stringify(results)})`);
    });
    for (const orig of originals) {
      const copies = settled.filter(
        (p) => p.metadata?.annotations?.[RESTORED_FROM_ANNOTATION] === orig.metadata?.uid,
      );
      const outcome = results[originals.indexOf(orig)]?.outcome;
      if (outcome === 'restored') assert.equal(copies.length, 1, `${orig.metadata?.name}: one restored copy`);
      else assert.equal(copies.length, 0, `${orig.metadata?.name}: evicted, no restored copy`);
    }
    const d = await k.apps.readNamespacedDeployment({ name: 'web', namespace: ns });
    assert.equal(d.status?.readyReplicas, 2);
    assert.equal(settled.filter((p) => p.metadata?.name === 'solo').length, 1);
    t.diagnostic(`killed at stage ${killedAt}; outcomes ${results.map((r) => r.outcome).join(',')}`);
    assert.ok(
      results.filter((r) => r.outcome === 'restored').length >= 2,
      `most pods restored despite the kill: ${JSON.stringify(results)}`,
    );
  });
});
