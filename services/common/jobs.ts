import type { JobsOptions } from 'bullmq';
import { z } from 'zod';
import { eventRefSchema } from './events.js';
import { namespaceNameSchema, nodeNameSchema, podNameSchema, podUidSchema } from './kube-names.js';

/** BullMQ queue names. One queue per kind of work so each scales and is watched on its own. */
export const QUEUES = {
  rescue: 'rescue',
  evict: 'evict',
  provision: 'provision',
  finalize: 'finalize',
} as const;
export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];

export const JOB_NAMES = {
  migratePod: 'migrate-pod',
  evictPod: 'evict-pod',
  provisionCapacity: 'provision-capacity',
  finalizeNode: 'finalize-node',
} as const;

export const nodeRefSchema = z.object({
  name: nodeNameSchema,
  instanceId: z.string().min(1),
  zone: z.string().optional(),
});

export const podRefSchema = z.object({
  namespace: namespaceNameSchema,
  name: podNameSchema,
  uid: podUidSchema,
});

/** What every job about one pod of an interrupted node says: the event, the node, the pod, and when the node dies. */
const podJobSchema = z.object({
  event: eventRefSchema,
  node: nodeRefSchema,
  pod: podRefSchema,
  /** ISO 8601: when the source instance is expected to die. */
  deadline: z.string().datetime(),
});

export const migratePodJobSchema = podJobSchema;
export type MigratePodJob = z.infer<typeof migratePodJobSchema>;

export const evictPodJobSchema = podJobSchema.extend({ reason: z.string().optional() });
export type EvictPodJob = z.infer<typeof evictPodJobSchema>;

export const finalizeNodeJobSchema = z.object({
  event: eventRefSchema,
  node: nodeRefSchema,
  /** Pod uids the listener planned for this node; finalize waits for their jobs. */
  podUids: z.array(podUidSchema),
  deadline: z.string().datetime().nullable(),
});
export type FinalizeNodeJob = z.infer<typeof finalizeNodeJobSchema>;

export const provisionCapacityJobSchema = z.object({
  event: eventRefSchema,
  node: nodeRefSchema,
  /** CPU millicores and memory bytes the pods waiting for capacity need. */
  cpuMillis: z.number().int().nonnegative(),
  memoryBytes: z.number().int().nonnegative(),
  zone: z.string().optional(),
  arch: z.string().optional(),
});
export type ProvisionCapacityJob = z.infer<typeof provisionCapacityJobSchema>;

/**
 * Deterministic job ids: the same event delivered twice, or to two listener
 * replicas, maps to the same id and BullMQ adds it once. BullMQ ids may not
 * contain ':' (its key separator).
 */
export function jobId(kind: string, eventId: string, subject: string): string {
  return `${kind}__${eventId}__${subject}`.replace(/:/g, '_');
}

/** Completed jobs stay a day (finalize-node and operators read their results); failed ones a week. */
const KEEP_COMPLETED_SECONDS = 24 * 3600;
const KEEP_FAILED_SECONDS = 7 * 24 * 3600;

/**
 * Retries per queue. A migration carries on from the progress it saved, so
 * a retry after a transient failure (an API 5xx, a Redis blip) is cheap;
 * the backoff stays short because the instance dies two minutes after the
 * warning. The last attempt of a migration never throws: it ends in the
 * last-resort fallback with a recorded outcome (services/worker/migrate/).
 */
const RETRIES: Record<QueueName, Pick<JobsOptions, 'attempts' | 'backoff'>> = {
  rescue: { attempts: 4, backoff: { type: 'exponential', delay: 1000 } },
  evict: { attempts: 5, backoff: { type: 'exponential', delay: 1000 } },
  provision: { attempts: 3, backoff: { type: 'exponential', delay: 2000 } },
  finalize: { attempts: 5, backoff: { type: 'exponential', delay: 2000 } },
};

/** The options every job is added with, in production and in tests alike. */
export function jobOptions(queue: QueueName, id: string, priority: number): JobsOptions {
  return {
    jobId: id,
    priority,
    ...RETRIES[queue],
    removeOnComplete: { age: KEEP_COMPLETED_SECONDS },
    removeOnFail: { age: KEEP_FAILED_SECONDS },
  };
}

/** Whether this run of a job is its last: BullMQ counts the attempts already made. */
export function isFinalAttempt(job: {
  attemptsMade: number;
  opts: { attempts?: number | undefined };
}): boolean {
  return job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
}

const LEAST_URGENT = 2_000_000;

/** Lower number = more urgent in BullMQ; seconds until the deadline, clamped to BullMQ's range. */
export function priorityForDeadline(deadline: string | null, now = Date.now()): number {
  if (deadline === null) return LEAST_URGENT;
  const seconds = Math.ceil((Date.parse(deadline) - now) / 1000);
  return Math.min(LEAST_URGENT, Math.max(1, seconds));
}

/** Deadlines this close together count as one when ordering migrations. */
const MIGRATION_DEADLINE_STEP_SECONDS = 5;
/** Size classes per deadline step: quarter-octaves of memory, 1 MiB up to 64 GiB. */
const SIZE_CLASSES = 64;

/**
 * Migrations whose deadlines fall in the same few seconds (a burst of
 * warnings) go smallest first. When the burst is more than the window can
 * move, this restores the most pods: in the 50-node benchmark, largest-first
 * moved 10 GiB but left the 160 small pods queued behind it until the budget
 * evicted them (48 of 200 restored). A large pod that then cannot fit is
 * evicted early by the budget check, with time for its grace period, instead
 * of holding up dozens of small ones. A sooner deadline still comes first.
 */
export function priorityForMigration(deadline: string, memoryBytes: number, now = Date.now()): number {
  const seconds = Math.max(0, Math.ceil((Date.parse(deadline) - now) / 1000));
  const step = Math.ceil(seconds / MIGRATION_DEADLINE_STEP_SECONDS);
  if (step * SIZE_CLASSES >= LEAST_URGENT) return LEAST_URGENT;
  const quarterOctaves = Math.floor(Math.log2(Math.max(1, memoryBytes / 2 ** 20)) * 4);
  const sizeClass = Math.min(SIZE_CLASSES - 1, quarterOctaves);
  return step * SIZE_CLASSES + sizeClass + 1;
}
