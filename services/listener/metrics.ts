import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { EVENT_KINDS } from '../common/events.js';
import type { Logger } from '../common/logger.js';
import { exportAtZero } from '../common/metrics.js';
import { CORDON_WITHOUT_REDIS_RESULTS } from './cordon-without-redis.js';
import { TAINT_PATCH_OUTCOMES } from './node-taint.js';

export type ListenerMetrics = ReturnType<typeof createListenerMetrics>;

export function createListenerMetrics(registry: Registry) {
  const metrics = {
    events: new Counter({
      name: 'spot_rescue_listener_events_total',
      help: 'Messages classified, by event kind ("none" when unknown) and outcome (act, ignore, reject)',
      labelNames: ['kind', 'outcome'],
      registers: [registry],
    }),
    instances: new Counter({
      name: 'spot_rescue_listener_instances_total',
      help: 'Instances of actionable events, by kind and result (handled, duplicate, unknown-instance, busy, failed)',
      labelNames: ['kind', 'result'],
      registers: [registry],
    }),
    oddFields: new Counter({
      name: 'spot_rescue_listener_lenient_fields_total',
      help: 'Actionable events acted on although a field was unusable (an empty or unparseable time: the receipt time was used), by kind and field',
      labelNames: ['kind', 'field'],
      registers: [registry],
    }),
    eventToEnqueue: new Histogram({
      name: 'spot_rescue_listener_event_to_enqueue_seconds',
      help: 'From receiving a message to Redis acknowledging every job of one of its nodes',
      labelNames: ['kind'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    warningLeft: new Histogram({
      name: 'spot_rescue_listener_warning_time_left_seconds',
      help: 'Deadline minus now when the message was received (negative: it arrived too late)',
      labelNames: ['kind'],
      buckets: [0, 10, 30, 60, 90, 120, 300, 900, 3600, 86400],
      registers: [registry],
    }),
    jobsEnqueued: new Counter({
      name: 'spot_rescue_listener_jobs_enqueued_total',
      help: 'Jobs handed to BullMQ, by queue and job name',
      labelNames: ['queue', 'name'],
      registers: [registry],
    }),
    nodePatches: new Counter({
      name: 'spot_rescue_listener_node_patches_total',
      help: 'Taint-and-cordon PATCH requests, by result (ok; taints-changed: another writer changed the taints since they were read, so the node was read again; conflict; error). Above one per tainted node means contention',
      labelNames: ['result'],
      registers: [registry],
    }),
    cordonsWithoutRedis: new Counter({
      name: 'spot_rescue_listener_cordons_without_redis_total',
      help: 'Nodes tainted and cordoned while their dedupe claim got no answer from Redis: the message waits in SQS and the rescue waits for Redis. By result (patched; unchanged: already so, from an earlier attempt or another replica; failed)',
      labelNames: ['result'],
      registers: [registry],
    }),
    dlqSends: new Counter({
      name: 'spot_rescue_listener_dlq_sends_total',
      help: 'Malformed messages moved to the dead-letter queue',
      registers: [registry],
    }),
    sqsErrors: new Counter({
      name: 'spot_rescue_listener_sqs_errors_total',
      help: 'Failed SQS calls, by operation',
      labelNames: ['operation'],
      registers: [registry],
    }),
  };
  exportAtZero(metrics.events, [
    ...EVENT_KINDS.map((kind) => ({ kind, outcome: 'act' })),
    { kind: 'none', outcome: 'reject' },
  ]);
  exportAtZero(
    metrics.nodePatches,
    TAINT_PATCH_OUTCOMES.map((result) => ({ result })),
  );
  exportAtZero(
    metrics.cordonsWithoutRedis,
    CORDON_WITHOUT_REDIS_RESULTS.map((result) => ({ result })),
  );
  exportAtZero(
    metrics.oddFields,
    EVENT_KINDS.map((kind) => ({ kind, field: 'time' })),
  );
  return metrics;
}

/**
 * Messages waiting in the dead-letter queue, read from SQS at scrape time: the
 * alert that says someone should look (`spot-rescue dlq list`). A failed read
 * keeps the last value and logs, so /metrics still answers.
 */
export function registerDlqDepth(registry: Registry, read: () => Promise<number>, log: Logger): Gauge {
  return new Gauge({
    name: 'spot_rescue_listener_dlq_messages',
    help: 'Messages in the dead-letter queue (visible, in flight and delayed), read from SQS at scrape time',
    registers: [registry],
    async collect() {
      try {
        this.set(await read());
      } catch (err) {
        log.warn({ err: String(err) }, 'could not read the DLQ depth');
      }
    },
  });
}
