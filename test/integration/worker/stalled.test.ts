import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Worker } from 'bullmq';
import { QUEUES } from '../../../services/common/jobs.js';
import { createRedisConnection } from '../../../services/common/redis.js';
import { MAX_STALLED_COUNT, STALLED_FOR_GOOD } from '../../../services/worker/stalled-jobs.js';
import { eventRef, stackEnv, TestBed, waitFor } from './harness.js';

/**
 * A migrate-pod job whose workers keep dying: each takes it and stops
 * renewing its lock (what a SIGKILLed or OOM-killed worker leaves behind)
 * until BullMQ gives up on it as stalled more often than the worker's
 * maxStalledCount allows. The live worker that next picks it up fails it
 * without running the migration; the pod must still be drained, as a plain
 * drain would have, and the outcome recorded.
 */
describe('worker: a migration abandoned by its dying workers', () => {
  const bed = new TestBed('wstall');
  const source = bed.node('src');
  const target = bed.node('dst');

  before(() => bed.setUp({ nodes: [{ suffix: 'src' }, { suffix: 'dst', unschedulable: true }] }));
  after(() => bed.close());

  test('the job fails as stalled for good, and its pod is drained through the Eviction API', async () => {
    const original = await bed.soloPodToMove(source, target);
    const job = await bed.queues.migrate(
      eventRef(120_000),
      { name: source, instanceId: 'i-0123456789abcde20' },
      original,
    );

    // The dying workers: BullMQ's own stalled check (with the service's limit) over jobs taken and abandoned.
    const connection = createRedisConnection(stackEnv().redisUrl);
    const dying = new Worker(QUEUES.rescue, null, {
      connection,
      prefix: bed.prefix,
      lockDuration: 1000,
      stalledInterval: 300,
      maxStalledCount: MAX_STALLED_COUNT,
      autorun: false,
    });
    let takes = 0;
    try {
      await dying.startStalledCheckTimer();
      await waitFor(
        'BullMQ to give up on the job as stalled',
        async () => {
          const j = await bed.queues.rescue.getJob(job.id!);
          if (j?.deferredFailure) return true;
          const state = await j?.getState();
          if (state === 'waiting' || state === 'prioritized') {
            const taken = await dying.getNextJob(randomUUID(), { block: false });
            if (taken) takes++;
          }
          return undefined;
        },
        { timeoutMs: 60_000, intervalMs: 100 },
      );
    } finally {
      await dying.close(true);
      await connection.quit();
    }
    assert.ok(takes > MAX_STALLED_COUNT, `taken and abandoned ${takes} times`);

    const svc = await bed.startWorker();
    assert.equal(await bed.queues.failure(job, 30_000), STALLED_FOR_GOOD);

    // Drained: a bare pod evicted is gone, as after `kubectl drain`; no copy was made.
    await bed.waitPods('the pod drained', (pods) => pods.length === 0, 60_000);
    const events = (await bed.k.core.listNamespacedEvent({ namespace: bed.ns })).items;
    const fellBack = events.filter((e) => e.reason === 'RescueFellBackToEviction');
    assert.equal(fellBack.length, 1, JSON.stringify(events.map((e) => e.reason)));
    assert.match(fellBack[0]!.message ?? '', /stalled more than allowable limit/);
    const outcomes = await waitFor('the outcome to be recorded', async () => {
      const m = await svc.metrics.outcomes.get();
      return m.values.some((v) => v.labels.outcome === 'evicted') ? m.values : undefined;
    });
    // Every outcome is exported from 0; only the drain counted.
    assert.deepEqual(
      outcomes.filter((v) => v.value > 0).map((v) => [v.labels.outcome, v.labels.job_name, v.value]),
      [['evicted', 'migrate-pod', 1]],
    );
  });
});
