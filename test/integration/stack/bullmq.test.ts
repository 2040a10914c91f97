import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Queue, QueueEvents, Worker } from 'bullmq';
import { createRedisConnection } from '../../../services/common/redis.js';
import { stackEnv, uniqueName } from '../../support/stack.js';

test('BullMQ: a job goes through Redis to a worker and its result comes back; a duplicate id is added once', async () => {
  const { redisUrl } = stackEnv();
  const prefix = uniqueName('bull');
  // BullMQ never closes connections it was given; the test owns and closes them.
  const connection = createRedisConnection(redisUrl);
  const eventsConnection = createRedisConnection(redisUrl);
  const workerConnection = createRedisConnection(redisUrl);
  const queue = new Queue('roundtrip', { connection, prefix });
  const events = new QueueEvents('roundtrip', { connection: eventsConnection, prefix });
  const seen: unknown[] = [];
  const worker = new Worker(
    'roundtrip',
    async (job) => {
      seen.push(job.data);
      return { doubled: (job.data as { n: number }).n * 2 };
    },
    { connection: workerConnection, prefix },
  );
  try {
    await events.waitUntilReady();
    const job = await queue.add('double', { n: 21 }, { jobId: 'same-id' });
    await queue.add('double', { n: 99 }, { jobId: 'same-id' });
    const result = await job.waitUntilFinished(events, 10_000);
    assert.deepEqual(result, { doubled: 42 });
    assert.deepEqual(seen, [{ n: 21 }], 'the second add with the same id was a no-op');
    assert.equal(
      await connection.config('GET', 'maxmemory-policy').then((r) => (r as string[])[1]),
      'noeviction',
    );
  } finally {
    await worker.close();
    await events.close();
    await queue.obliterate({ force: true });
    await queue.close();
    for (const c of [connection, eventsConnection, workerConnection]) c.disconnect();
  }
});
