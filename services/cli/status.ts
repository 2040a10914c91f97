import { Queue } from 'bullmq';
import { commonSettings, readConfig } from '../common/config.js';
import { QUEUES } from '../common/jobs.js';
import { createRedisConnection } from '../common/redis.js';
import { redact } from './config-command.js';
import { type RawJob, type StatusReport, statusReport } from './status-view.js';

export const statusSettings = {
  redisUrl: commonSettings.redisUrl,
  queuePrefix: commonSettings.queuePrefix,
};

/** Finished jobs are kept a day (services/common/jobs.ts); this many of each queue are looked at. */
const FINISHED_SCAN = 500;

/** Reads the rescue and evict queues from Redis and builds the report. */
export async function readStatus(
  opts: { recent: number; now?: number },
  env: NodeJS.ProcessEnv = process.env,
): Promise<StatusReport> {
  const config = readConfig(statusSettings, env);
  // A status command should answer or fail, not wait for Redis forever.
  const connection = createRedisConnection(config.redisUrl, {
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => (times > 2 ? null : 200),
    connectTimeout: 5000,
  });
  connection.on('error', () => {});
  const queues = [QUEUES.rescue, QUEUES.evict].map((name) => {
    const q = new Queue(name, { connection, prefix: config.queuePrefix });
    // A failure surfaces once, from the reads below, not as a log line per reconnect.
    q.on('error', () => {});
    return q;
  });
  try {
    await connection.ping().catch((err: Error) => {
      throw new Error(`cannot reach Redis at ${redact(config.redisUrl)}: ${err.message}`);
    });
    const raw: RawJob[] = [];
    for (const q of queues) {
      const live = await q.getJobs(['active', 'waiting', 'prioritized', 'delayed']);
      const done = await q.getJobs(['completed', 'failed'], 0, FINISHED_SCAN - 1);
      for (const j of [...live, ...done]) {
        raw.push({
          id: j.id,
          name: j.name,
          state: await j.getState(),
          data: j.data,
          progress: j.progress,
          returnvalue: j.returnvalue,
          failedReason: j.failedReason,
          timestamp: j.timestamp,
          processedOn: j.processedOn,
          finishedOn: j.finishedOn,
          attemptsMade: j.attemptsMade,
        });
      }
    }
    return statusReport(raw, opts.now ?? Date.now(), opts.recent);
  } finally {
    await Promise.all(queues.map((q) => q.close()));
    connection.disconnect();
  }
}
