import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Job, Worker } from 'bullmq';
import { Cluster } from 'ioredis';
import { ConfigError } from '../../../services/common/config.js';
import { jobId, QUEUES } from '../../../services/common/jobs.js';
import { createRedisConnection } from '../../../services/common/redis.js';
import { RedisReservations } from '../../../services/worker/reservations.js';
import { redisClusterUrl, uniqueName, waitFor } from '../../support/stack.js';
import { statusReport } from '../cli/cli.js';
import { inProcessListener, sampleEvent } from './harness.js';
import { ListenerBed } from './listener-bed.js';

const url = redisClusterUrl();
const prefix = `{${uniqueName('lc')}}`;
const bed = new ListenerBed(url, prefix);
const { cluster, queues } = bed;
const client = createRedisConnection(url);

before(() => bed.setUp());
after(async () => {
  await bed.close();
  client.disconnect();
});

describe('the rescue on a real Redis Cluster (hash-tagged keys, one slot)', () => {
  it('is a cluster of several masters, not one Redis', async () => {
    const c: unknown = client;
    assert.ok(c instanceof Cluster);
    await waitFor('cluster ready', async () => c.status === 'ready' || (await c.ping()) === 'PONG');
    assert.ok(c.nodes('master').length >= 3, 'three masters');
  });

  it("the listener queues a node's jobs and dedupes the redelivery; a worker runs the job; status reads it back", async () => {
    const node = await cluster.node();
    const pod = await cluster.pod(bed.optedNs, node.name, { name: `c-${node.name}` });
    await cluster.waitPodsOnNode(node.name, 1);
    const body = sampleEvent('spot-interruption-warning.json', node.instanceId);
    await queues.send(body);
    const jobs = await waitFor('migrate and finalize jobs in the cluster', async () => {
      const all = [...(await queues.jobs(QUEUES.rescue)), ...(await queues.jobs(QUEUES.finalize))];
      return all.length >= 2 && all;
    });
    const eventId = (jobs[0]!.data as { event: { id: string } }).event.id;
    assert.deepEqual(
      jobs.map((j) => j.id).sort(),
      [
        jobId('finalize-node', eventId, node.instanceId),
        jobId('migrate-pod', eventId, pod.metadata!.uid!),
      ].sort(),
    );

    // The same message again: the dedupe record (a script on the cluster) drops it.
    await queues.send(body);
    await waitFor('the redelivery deleted', async () => (await queues.depth()) === 0);
    assert.equal((await queues.jobs(QUEUES.rescue)).length, 1);

    // Every key of the install hashes to the slot of its tag.
    // (COUNTKEYSINSLOT answers for the node it is sent to: ask every master, one owns the slot.)
    const slot = Number(await client.call('CLUSTER', 'KEYSLOT', prefix));
    const c: unknown = client;
    assert.ok(c instanceof Cluster);
    const counts = await Promise.all(
      c.nodes('master').map(async (m) => Number(await m.call('CLUSTER', 'COUNTKEYSINSLOT', String(slot)))),
    );
    assert.equal(counts.filter((n) => n > 0).length, 1, `keys on exactly one master: ${counts}`);
    assert.ok(Math.max(...counts) > 5, `${Math.max(...counts)} keys in slot ${slot}`);

    // A worker on the cluster takes the job, saves progress and finishes it.
    const workerConnection = createRedisConnection(url);
    const worker = new Worker(
      QUEUES.rescue,
      async (job: Job) => {
        await job.updateProgress({ stage: 'checkpointed', target: 'node-b' });
        return { outcome: 'restored', target: 'node-b' };
      },
      { connection: workerConnection, prefix },
    );
    try {
      await waitFor(
        'the job completed',
        async () => (await queues.queue(QUEUES.rescue).getCompletedCount()) === 1,
      );
    } finally {
      await worker.close();
      workerConnection.disconnect();
    }
    const report = await statusReport(url, prefix);
    assert.deepEqual(
      report.recent.map((f) => [f.pod, f.outcome, f.target]),
      [[`${bed.optedNs}/c-${node.name}`, 'restored', 'node-b']],
    );
  });

  it("the worker's reservation script, two keys at once, runs on the cluster and still refuses the last slot twice", async () => {
    const res = new RedisReservations(client, prefix, 60_000);
    const free = { cpuMillis: 1000, memoryBytes: 1 << 30, pods: 10 };
    const req = { cpuMillis: 600, memoryBytes: 1 << 20, pods: 1 };
    assert.equal(await res.reserve('node-x', 'job-1', req, free), true);
    assert.equal(await res.reserve('node-x', 'job-2', req, free), false, 'the second claim does not fit');
    assert.equal(await res.heldBy('job-1'), 'node-x');
    await res.release('job-1');
    assert.equal(await res.reserve('node-x', 'job-2', req, free), true);
    await res.release('job-2');
  });

  it('a prefix without a hash tag is refused before anything is written', async () => {
    const plain = prefix.slice(1, -1);
    assert.throws(() => new RedisReservations(client, plain, 60_000), /would span slots/);
    await assert.rejects(
      inProcessListener(queues.config({ SPOT_RESCUE_QUEUE_PREFIX: plain })),
      (e: unknown) => e instanceof ConfigError && /hash-tagged queue prefix/.test(e.message),
    );
  });
});
