import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Cluster } from '../../../services/worker/cluster.js';
import { around, eventRef, isReady, TestBed } from './harness.js';

/**
 * The Kubernetes API answers the pod's reads with 503 for good: the job,
 * enqueued as the listener does (its attempts and backoff), is retried and
 * on its last attempt still ends with an outcome, `failed`, counted for the
 * failed-rescues alarm, instead of leaving the failed set with none.
 */
describe('worker: a migration that cannot get anywhere ends with an outcome', () => {
  const bed = new TestBed('wlast');
  let reads = 0;

  const apiDown = (cluster: Cluster): Cluster =>
    around(cluster, 'getPod', async (getPod, namespace, name) => {
      if (namespace !== bed.ns) return getPod(namespace, name);
      reads++;
      throw Object.assign(
        new Error('HTTP-Code: 503 Message: the server is currently unable to handle the request'),
        { code: 503 },
      );
    });

  before(async () => {
    await bed.setUp({ nodes: [{ suffix: 'src', agent: false }] });
    await bed.startWorker({ agents: {}, overrides: { wrapCluster: apiDown } });
  });

  after(() => bed.close());

  test('every attempt fails on the API; the last ends as failed and is counted', async () => {
    await bed.createPod('solo');
    const [pod] = await bed.waitPods('the pod running', (pods) => pods.length === 1 && isReady(pods[0]!));
    const job = await bed.queues.migrate(
      eventRef(120_000),
      { name: bed.node('src'), instanceId: 'i-0123456789abcdef4' },
      pod!,
    );
    const attempts = job.opts.attempts ?? 1;
    assert.ok(attempts > 1, 'the production options retry');
    const result = await bed.queues.result(job, 60_000);
    assert.equal(result?.outcome, 'failed', JSON.stringify(result));
    assert.match(result?.reason ?? '', /503/);
    const done = await bed.queues.rescue.getJob(job.id!);
    assert.equal(done?.attemptsMade, attempts, 'every attempt ran: the earlier ones failed and were retried');
    assert.ok(reads >= attempts, `the pod was read on every attempt (${reads})`);
    const outcomes = await bed.worker!.metrics.outcomes.get();
    assert.equal(outcomes.values.find((v) => v.labels.outcome === 'failed')?.value, 1);
  });
});
