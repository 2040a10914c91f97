// test:exclusive: its listener re-plans every tainted node of the cluster and its worker acts on them, other tests' nodes included
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { EventsV1Api } from '@kubernetes/client-node';
import { buildEvent } from '../../../infra/sim/events.js';
import { JOB_NAMES, jobId } from '../../../services/common/jobs.js';
import { RESTORED_FROM_ANNOTATION } from '../../../services/common/labels.js';
import { createRedisConnection } from '../../../services/common/redis.js';
import type { ListenerService } from '../../../services/listener/service.js';
import { isReady, jobSigningKeyFile, TestBed, waitFor, waitJobsDone } from '../worker/harness.js';
import { inProcessListener, TestQueues } from './harness.js';
import { randomInstanceId } from './sim-cluster.js';

/**
 * Redis acknowledges a node's jobs, the listener deletes the SQS message,
 * then Redis loses the jobs (a failover to a replica that had not caught up,
 * a restart without an append-only file). Nothing will redeliver the event:
 * the listener finds the tainted node's jobless pods and plans them again,
 * once, and the real worker then rescues each pod exactly once.
 */
describe('listener: re-plans tainted nodes whose jobs Redis lost', () => {
  const bed = new TestBed('replan');
  const sqs = new TestQueues();
  const redis = createRedisConnection(sqs.redisUrl);
  const source = bed.node('src');
  const target = bed.node('dst');
  const instanceId = randomInstanceId();
  let listener: ListenerService | undefined;

  before(async () => {
    await bed.setUp({
      nodes: [
        { suffix: 'src', instanceId },
        { suffix: 'dst', unschedulable: true },
      ],
    });
    await sqs.create();
  });

  after(async () => {
    await listener?.stop();
    await bed.close();
    await sqs.cleanup();
    redis.disconnect();
  });

  test('every pod is planned again once and ends restored exactly once', async () => {
    await bed.createDeployment('web', 2);
    await bed.createPod('solo');
    const originals = await bed.waitPods(
      'three pods on the source node',
      (pods) => pods.length === 3 && pods.every((p) => isReady(p) && p.spec?.nodeName === source),
    );
    for (const p of originals) await bed.startCounter(source, p);
    const countedBefore = new Map<string, number>();
    for (const p of originals) {
      countedBefore.set(
        p.metadata!.uid!,
        (await bed.counterOf(source, p.metadata!.name!))?.progress?.['counter'] ?? 0,
      );
    }

    listener = await inProcessListener(
      sqs.config({
        SPOT_RESCUE_QUEUE_PREFIX: bed.prefix,
        SPOT_RESCUE_LISTENER_REPLAN_INTERVAL_SECONDS: '1',
        // The worker's key: one deployment, one key.
        SPOT_RESCUE_JOB_SIGNING_KEY_FILE: jobSigningKeyFile,
      }),
    );
    await sqs.send(JSON.stringify(buildEvent('spot-interruption', { instanceId })));
    const uids = originals.map((p) => p.metadata!.uid!);
    const migrateJobsOf = async () =>
      (
        await bed.queues.rescue.getJobs([
          'waiting',
          'prioritized',
          'active',
          'delayed',
          'completed',
          'failed',
        ])
      )
        .map((j) => ({ id: j.id ?? '', uid: (j.data as { pod: { uid: string } }).pod.uid }))
        .filter((j) => uids.includes(j.uid));
    const first = await waitFor('the event planned and acknowledged', async () => {
      const jobs = await migrateJobsOf();
      return jobs.length === 3 && (await sqs.depth()) === 0 ? jobs : undefined;
    });

    // Redis loses everything of this install: the jobs and the listener's dedupe marks.
    const keys = await redis.keys(`${bed.prefix}:*`);
    assert.ok(keys.length > 0);
    await redis.del(...keys);
    assert.equal((await migrateJobsOf()).length, 0, 'the jobs are gone');

    const node = await bed.k.core.readNode({ name: source });
    const replanIds = uids.map((uid) => jobId(JOB_NAMES.migratePod, `replan-${node.metadata!.uid}`, uid));
    await waitFor(
      'a re-planned job for every pod',
      async () => {
        const ids = (await migrateJobsOf()).map((j) => j.id);
        return replanIds.every((id) => ids.includes(id));
      },
      { timeoutMs: 20_000 },
    );
    // Several more passes (and a second replica's) find the jobs and add nothing.
    const second = await inProcessListener(
      sqs.config({
        SPOT_RESCUE_QUEUE_PREFIX: bed.prefix,
        SPOT_RESCUE_LISTENER_REPLAN_INTERVAL_SECONDS: '1',
        // The worker's key: one deployment, one key.
        SPOT_RESCUE_JOB_SIGNING_KEY_FILE: jobSigningKeyFile,
      }),
    );
    await new Promise((r) => setTimeout(r, 3500));
    await second.stop();
    const replanned = await migrateJobsOf();
    assert.deepEqual(
      replanned.map((j) => j.id).sort(),
      [...replanIds].sort(),
      `one job per pod, none of the lost ids (were ${first.map((j) => j.id).join(', ')})`,
    );
    // The node tells its story: the re-plan is an Event on it beside the listener's first plan.
    const events = bed.k.kc.makeApiClient(EventsV1Api);
    const replanEvent = await waitFor('a Replan event on the node', async () =>
      (await events.listNamespacedEvent({ namespace: 'default' })).items.find(
        (e) => e.regarding?.name === source && e.action === 'Replan',
      ),
    );
    assert.equal(replanEvent.reason, 'RescuePlanned');
    assert.match(replanEvent.note ?? '', /3 pods had no job in Redis .* 3 to migrate, 0 to evict/);
    // This source node's only: the listener re-plans every tainted node of the
    // cluster, so tests running beside this one can leave theirs in its queue too.
    const finalize = (await bed.queues.finalize.getJobs(['waiting', 'prioritized', 'delayed'])).filter(
      (j) => (j.data as { node?: { name?: string } }).node?.name === source,
    );
    assert.equal(finalize.length, 1, 'one finalize-node job for the node');

    await bed.setSchedulable(target, true);
    await bed.startWorker();
    const results = (await waitJobsDone(bed.queues.rescue, replanIds, 120_000)) as { outcome: string }[];
    assert.deepEqual(
      results.map((r) => r.outcome),
      ['restored', 'restored', 'restored'],
    );
    const settled = await bed.waitPods(
      'three running pods, none on the source',
      (pods) => pods.length === 3 && pods.every((p) => isReady(p) && p.spec?.nodeName === target),
      60_000,
    );
    for (const orig of originals) {
      const copies = settled.filter(
        (p) => p.metadata?.annotations?.[RESTORED_FROM_ANNOTATION] === orig.metadata?.uid,
      );
      assert.equal(copies.length, 1, `${orig.metadata?.name}: exactly one restored copy`);
      const copy = copies[0]!;
      const c = await bed.counterOf(target, copy.metadata!.name!);
      assert.equal(c?.status, 'running');
      assert.ok(
        (c?.progress?.['counter'] ?? 0) >= countedBefore.get(orig.metadata!.uid!)!,
        `${orig.metadata?.name}: the counter went on from where it was`,
      );
    }
  });
});
