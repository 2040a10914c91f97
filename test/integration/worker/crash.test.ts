import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { RESTORED_FROM_ANNOTATION } from '../../../services/common/labels.js';
import { eventRef, isReady, TestBed, waitFor } from './harness.js';

/**
 * A worker process killed (SIGKILL) in the middle of a migration: its job is
 * picked up by another worker once the lock lapses, carries on from what was
 * done, and every pod ends with exactly one running copy.
 */
describe('worker: killed mid-migration', () => {
  const bed = new TestBed('wkill');
  const { k, ns } = bed;
  const source = bed.node('src');
  const target = bed.node('dst');
  // One job at a time, so the kill lands while jobs are still in flight.
  const workerSettings = { extra: { SPOT_RESCUE_WORKER_CONCURRENCY: '1', SPOT_RESCUE_LOG_LEVEL: 'info' } };

  before(() => bed.setUp({ nodes: [{ suffix: 'src' }, { suffix: 'dst', unschedulable: true }] }));

  after(() => bed.close());

  test('exactly one copy of each pod after a SIGKILL and a second worker', async (t) => {
    await bed.createDeployment('web', 2);
    await bed.createPod('solo');
    const originals = await bed.waitPods(
      'three pods on the source node',
      (pods) => pods.length === 3 && pods.every(isReady),
    );
    for (const p of originals) await bed.startCounter(source, p);
    await bed.markInterrupted(source);
    await bed.setSchedulable(target, true);

    const first = bed.spawnWorker(workerSettings);
    const event = eventRef(120_000);
    const jobs = await Promise.all(
      originals.map((p) => bed.queues.migrate(event, { name: source, instanceId: 'i-0123456789abcdef3' }, p)),
    );

    // Kill the worker as soon as a job is past its checkpoint but not finished.
    const killedAt = await first.explained(
      waitFor(
        'a job in the middle of its migration',
        async () => {
          for (const j of jobs) {
            const job = await bed.queues.rescue.getJob(j.id!);
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
      ),
    );
    await first.crash();

    const second = bed.spawnWorker(workerSettings);
    const results = await second.explained(bed.queues.results<{ outcome: string }>(jobs, 120_000));
    second.child.kill('SIGTERM');

    const settled = await bed
      .waitPods(
        'three running pods, none on the source',
        (pods) => pods.length === 3 && pods.every((p) => isReady(p) && p.spec?.nodeName === target),
        60_000,
      )
      .catch((err: Error) => {
        throw new Error(`${err.message}; killed at ${killedAt}; ${JSON.stringify(results)}`);
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
