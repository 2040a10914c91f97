import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { type Job, Queue, Worker } from 'bullmq';
import type { StatusReport } from '../../../services/cli/status-view.js';
import { loadJobSigner, newJobSigningKeyFile } from '../../../services/common/job-signing-key.js';
import { QUEUES } from '../../../services/common/jobs.js';
import { createRedisConnection } from '../../../services/common/redis.js';
import { BullJobSink } from '../../../services/listener/enqueue.js';
import { plannedMigration } from '../../support/planned-migration.js';
import { stackEnv, uniqueName, waitFor } from '../../support/stack.js';
import { runCli } from './cli.js';

const prefix = uniqueName('st');
const redisUrl = stackEnv().redisUrl;
const connection = createRedisConnection(redisUrl);
const sink = new BullJobSink(connection, prefix, loadJobSigner(newJobSigningKeyFile()));
const env = { ...process.env, SPOT_RESCUE_REDIS_URL: redisUrl, SPOT_RESCUE_QUEUE_PREFIX: prefix };

after(async () => {
  await sink.close();
  for (const name of Object.values(QUEUES)) {
    const q = new Queue(name, { connection, prefix });
    await q.obliterate({ force: true });
    await q.close();
  }
  connection.disconnect();
});

const planned = (pod: string, deadline: Date) => plannedMigration(pod, deadline, `e-${prefix}`);

const status = async () => {
  const r = await runCli(['status', '--json'], env);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as StatusReport;
};

describe('spot-rescue status against the real Redis', () => {
  it('shows a rescue in flight (stage, target, time left), then its outcome', async () => {
    const deadline = new Date(Date.now() + 120_000);
    // Enqueued as the listener does, with the production job options.
    await sink.enqueue([planned('cart', deadline), planned('db', deadline)]);

    // A worker takes one job, saves its progress as the migration does, and holds it.
    const workerConnection = createRedisConnection(redisUrl);
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    const worker = new Worker(
      QUEUES.rescue,
      async (job: Job) => {
        await job.updateProgress({ stage: 'checkpointed', target: 'node-b' });
        await held;
        return { outcome: 'restored', target: 'node-b', restoredPod: 'cart' };
      },
      { connection: workerConnection, prefix, concurrency: 1 },
    );
    try {
      await waitFor('a job active with its progress saved', async () => {
        const q = new Queue(QUEUES.rescue, { connection, prefix });
        const active = await q.getActive();
        await q.close();
        return active.some((j) => (j.progress as { stage?: string }).stage === 'checkpointed');
      });
      const now = await status();
      assert.equal(now.inFlight.length, 2);
      const running = now.inFlight.find((f) => f.state === 'active')!;
      assert.equal(running.node, 'node-a');
      assert.equal(running.stage, 'checkpointed');
      assert.equal(running.target, 'node-b');
      assert.ok(running.secondsLeft > 60 && running.secondsLeft <= 120, `${running.secondsLeft} s left`);
      assert.equal(now.inFlight.find((f) => f.state !== 'active')?.stage, 'queued');

      const text = await runCli(['status'], env);
      assert.match(text.stdout, /node node-a \(spot-interruption\)/);
      assert.match(text.stdout, /checkpointed -> node-b {2}\d+ s left/);

      release();
      await waitFor('both jobs finished', async () => (await status()).recent.length === 2);
      const done = await status();
      assert.equal(done.inFlight.length, 0);
      assert.deepEqual(
        done.recent.map((f) => [f.outcome, f.target]),
        [
          ['restored', 'node-b'],
          ['restored', 'node-b'],
        ],
      );
    } finally {
      release();
      await worker.close();
      // BullMQ leaves a connection it was given open; an open socket would keep the test process alive.
      workerConnection.disconnect();
    }
  });

  it('a usage error exits 2; an unreachable Redis fails with exit 1', async () => {
    assert.equal((await runCli(['status', '--last', '0'], env)).status, 2);
    const down = await runCli(['status'], { ...env, SPOT_RESCUE_REDIS_URL: 'redis://127.0.0.1:1' });
    assert.equal(down.status, 1);
    assert.match(down.stderr, /^spot-rescue: /);
  });
});
