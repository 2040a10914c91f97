import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Job, Worker } from 'bullmq';
import { commonSettings, readConfig } from '../../../services/common/config.js';
import { loadJobSigner, newJobSigningKeyFile } from '../../../services/common/job-signing-key.js';
import { QUEUES } from '../../../services/common/jobs.js';
import { createRedisConnection, type Redis } from '../../../services/common/redis.js';
import { BullJobSink } from '../../../services/listener/enqueue.js';
import { plannedMigration } from '../../support/planned-migration.js';
import { freePort, RedisServerProcess } from '../../support/redis-server.js';
import { uniqueName, waitFor } from '../../support/stack.js';
import { statusReport } from '../cli/cli.js';

/**
 * Self-managed Redis with Sentinel: a master, a replica and a sentinel of
 * this test's own. The listener's sink, a BullMQ worker and the CLI reach
 * Redis only through `redis+sentinel://`; the master is then killed, the
 * sentinel promotes the replica, and the same connections carry on.
 */
describe('Redis Sentinel: the queues follow a failover', () => {
  const prefix = uniqueName('sent');
  let dir: string;
  let master: RedisServerProcess;
  let replica: RedisServerProcess;
  let sentinel: RedisServerProcess;
  let url: string;
  const opened: Redis[] = [];
  const connect = () => {
    const c = createRedisConnection(url);
    opened.push(c);
    return c;
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sr-sentinel-'));
    master = new RedisServerProcess(await freePort(), { dir: join(dir, 'master') });
    await master.start();
    replica = new RedisServerProcess(await freePort(), {
      dir: join(dir, 'replica'),
      args: ['--replicaof', '127.0.0.1', String(master.port)],
    });
    await replica.start();
    sentinel = new RedisServerProcess(await freePort(), {
      dir: join(dir, 'sentinel'),
      sentinel: [
        `sentinel monitor primary 127.0.0.1 ${master.port} 1`,
        'sentinel down-after-milliseconds primary 1000',
        'sentinel failover-timeout primary 10000',
      ],
    });
    await sentinel.start();
    url = `redis+sentinel://127.0.0.1:${sentinel.port}/primary`;
  });

  after(async () => {
    for (const c of opened) c.disconnect();
    for (const p of [sentinel, replica, master]) await p?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const masterPort = async (): Promise<number> => {
    const s = createRedisConnection(sentinel.url, { maxRetriesPerRequest: 1 });
    try {
      const addr = (await s.call('SENTINEL', 'get-master-addr-by-name', 'primary')) as string[];
      return Number(addr[1]);
    } finally {
      s.disconnect();
    }
  };

  test('jobs enqueued before and after the master dies are each processed once, and none is lost', async () => {
    assert.equal(readConfig(commonSettings, { SPOT_RESCUE_REDIS_URL: url }).redisUrl, url);
    assert.equal(await masterPort(), master.port);

    const sink = new BullJobSink(connect(), prefix, loadJobSigner(newJobSigningKeyFile()));
    const processed: string[] = [];
    const worker = new Worker(
      QUEUES.rescue,
      async (job: Job) => {
        processed.push(job.data.pod.name);
        return { outcome: 'restored', target: 'node-b' };
      },
      { connection: connect(), prefix, concurrency: 1 },
    );
    try {
      const deadline = new Date(Date.now() + 120_000);
      await sink.enqueue([plannedMigration('before', deadline, `e-${prefix}`)]);
      await waitFor('the first job processed', async () => processed.includes('before'));

      // Both writes on the replica before the crash (asynchronous replication would otherwise lose them).
      const direct = connect();
      await waitFor(
        'the first job replicated',
        async () => Number(await direct.call('WAIT', '1', '1000')) >= 1,
      );
      await master.kill();
      await waitFor('the sentinel promoted the replica', async () => (await masterPort()) === replica.port, {
        timeoutMs: 30_000,
      });

      await sink.enqueue([plannedMigration('after', deadline, `e-${prefix}`)]);
      await waitFor('the second job processed', async () => processed.includes('after'), {
        timeoutMs: 30_000,
      });
      assert.deepEqual(processed, ['before', 'after'], 'each job once');

      // The CLI, a separate process, finds both outcomes through the sentinel.
      const report = await statusReport(url, prefix);
      assert.deepEqual(report.recent.map((f) => [f.pod, f.outcome]).sort(), [
        ['shop/after', 'restored'],
        ['shop/before', 'restored'],
      ]);
    } finally {
      await worker.close();
      await sink.close();
    }
  });

  test('a malformed sentinel URL is refused at start, naming what is wrong', () => {
    assert.throws(
      () => readConfig(commonSettings, { SPOT_RESCUE_REDIS_URL: 'redis+sentinel://127.0.0.1:26379' }),
      /SPOT_RESCUE_REDIS_URL: invalid Redis Sentinel URL: no master name/,
    );
  });
});
