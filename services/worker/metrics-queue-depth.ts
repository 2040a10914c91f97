import { Gauge, type Registry } from 'prom-client';
import type { Logger } from '../common/logger.js';

/** The states a backlog is made of; `waiting` includes prioritized jobs (BullMQ keeps them apart). */
export const QUEUE_DEPTH_STATES = ['waiting', 'active', 'delayed', 'failed'] as const;
export const QUEUE_DEPTH_METRIC = 'spot_rescue_queue_jobs';

/** The one BullMQ call the gauge makes, per queue. */
export interface CountsJobs {
  readonly name: string;
  getJobCounts(...types: string[]): Promise<Record<string, number>>;
}

/**
 * Jobs per BullMQ queue and state, read from Redis at scrape time. This is
 * what the worker scales on (KEDA's Prometheus scaler, or an HPA on external
 * metrics): a burst of interruptions is a backlog long before it is CPU.
 * A scrape whose Redis read fails leaves the previous values and logs, rather
 * than failing the whole /metrics response.
 */
export function registerQueueDepth(registry: Registry, queues: readonly CountsJobs[], log: Logger): Gauge {
  return new Gauge({
    name: QUEUE_DEPTH_METRIC,
    help: 'Jobs in each BullMQ queue by state (waiting includes prioritized), read from Redis at scrape time',
    labelNames: ['queue', 'state'],
    registers: [registry],
    async collect() {
      await Promise.all(
        queues.map(async (q) => {
          try {
            const c = await q.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'failed');
            this.set({ queue: q.name, state: 'waiting' }, (c['waiting'] ?? 0) + (c['prioritized'] ?? 0));
            for (const state of ['active', 'delayed', 'failed'] as const) {
              this.set({ queue: q.name, state }, c[state] ?? 0);
            }
          } catch (err) {
            log.warn({ queue: q.name, err: String(err) }, 'could not read the queue depth');
          }
        }),
      );
    },
  });
}
