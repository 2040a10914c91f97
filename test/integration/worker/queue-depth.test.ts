import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Queue } from 'bullmq';
import { QUEUES } from '../../../services/common/jobs.js';
import { createLogger } from '../../../services/common/logger.js';
import { createMetricsRegistry } from '../../../services/common/metrics.js';
import { createRedisConnection } from '../../../services/common/redis.js';
import { registerQueueDepth } from '../../../services/worker/metrics-queue-depth.js';
import { stackEnv, uniqueName } from '../../support/stack.js';

const prefix = uniqueName('qd');
const connection = createRedisConnection(stackEnv().redisUrl);
const queues = Object.values(QUEUES).map((q) => new Queue(q, { connection, prefix }));

after(async () => {
  for (const q of queues) {
    await q.obliterate({ force: true });
    await q.close();
  }
  connection.disconnect();
});

const sample = (text: string, queue: string, state: string) => {
  const m = text.match(
    new RegExp(`^spot_rescue_queue_jobs\\{queue="${queue}",state="${state}"\\} (\\d+)$`, 'm'),
  );
  assert.ok(m, `no sample for ${queue}/${state} in\n${text}`);
  return Number(m[1]);
};

describe('queue depth per BullMQ queue, read from the real Redis at scrape time', () => {
  it('counts waiting (prioritized included), delayed and failed jobs per queue; empty queues read 0', async () => {
    const registry = createMetricsRegistry('worker', false);
    registerQueueDepth(registry, queues, createLogger('test', 'silent'));
    const [rescue, evict] = [queues[0]!, queues[1]!];
    await rescue.add('migrate-pod', {}, { jobId: 'a' });
    await rescue.add('migrate-pod', {}, { jobId: 'b', priority: 5 });
    await rescue.add('migrate-pod', {}, { jobId: 'c', delay: 60_000 });
    await evict.add('evict-pod', {}, { jobId: 'd' });

    const first = await registry.metrics();
    assert.equal(sample(first, 'rescue', 'waiting'), 2);
    assert.equal(sample(first, 'rescue', 'delayed'), 1);
    assert.equal(sample(first, 'rescue', 'active'), 0);
    assert.equal(sample(first, 'evict', 'waiting'), 1);
    assert.equal(sample(first, 'finalize', 'waiting'), 0);
    assert.equal(sample(first, 'provision', 'failed'), 0);

    // The next scrape sees the queue as it is then, not as it was.
    await rescue.remove('a');
    assert.equal(sample(await registry.metrics(), 'rescue', 'waiting'), 1);
  });
});
