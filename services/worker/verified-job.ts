import type { V1Pod } from '@kubernetes/client-node';
import { type Job, UnrecoverableError } from 'bullmq';
import { z } from 'zod';
import { archiveDigestSchema, type RestoreResponse, restoreResponseSchema } from '../common/agent-api.js';
import { checkpointImageRef } from '../common/checkpoint-image-name.js';
import type { JobSigner, SignatureScope } from '../common/job-signature.js';
import {
  containerNameSchema,
  namespaceNameSchema,
  nodeNameSchema,
  podNameSchema,
  podUidSchema,
} from '../common/kube-names.js';
import type { MigrateProgress } from './migrate/context.js';
import { restoredPodName } from './restored-pod.js';

/**
 * Nothing the worker reads back from Redis is trusted until it is verified:
 * a job's data carries the listener's (or this worker's) signature, a
 * migration's saved progress the worker's own, and both are parsed with
 * their schemas. A job that fails here fails for good with the reason, and
 * nothing was done: no checkpoint, no eviction, no pod.
 */

export type RefusalReason = 'signature' | 'progress' | 'not-opted-in' | 'image';

/** A job the worker will not run; BullMQ does not retry it. */
export class RefusedJob extends UnrecoverableError {
  constructor(
    readonly reason: RefusalReason,
    message: string,
  ) {
    super(message);
    this.name = 'RefusedJob';
  }
}

/** The data of a job whose name and signature hold, parsed with its schema. */
export function verifiedJob<S extends z.ZodType>(
  schema: S,
  job: Pick<Job, 'id' | 'name' | 'data' | 'queueName'>,
  expectedName: string,
  signer: JobSigner,
): z.output<S> {
  if (job.name !== expectedName)
    throw new UnrecoverableError(`unexpected job name ${job.name} (want ${expectedName})`);
  const problem = signer.problem(scopeOf(job), job.data);
  if (problem)
    throw new RefusedJob(
      'signature',
      `refused ${expectedName} job ${job.id}: ${problem} (only jobs signed with this deployment's key run)`,
    );
  const r = schema.safeParse(job.data);
  // Malformed data never becomes valid by retrying; it stays in the failed set for an operator.
  if (!r.success) throw new UnrecoverableError(`invalid ${expectedName} job ${job.id}: ${r.error.message}`);
  return r.data;
}

function scopeOf(job: Pick<Job, 'id' | 'name' | 'queueName'>): SignatureScope {
  return { queue: job.queueName, name: job.name, id: job.id ?? '' };
}

/** Saved progress is signed under a name of its own: a job's data cannot pass for its progress. */
function progressScope(job: Pick<Job, 'id' | 'name' | 'queueName'>): SignatureScope {
  return { ...scopeOf(job), name: `${job.name}/progress` };
}

/**
 * The names a migration takes from the saved pod (the restored pod's
 * namespace and containers, what the agents are asked for) are held to
 * Kubernetes' character sets; the rest of the pod is the API server's
 * shape and is passed through as it came.
 */
const savedPodNamesSchema = z.object({
  metadata: z.object({ namespace: namespaceNameSchema, name: podNameSchema, uid: podUidSchema }),
  spec: z.object({ containers: z.array(z.object({ name: containerNameSchema })).min(1) }),
});
const podSchema = z.custom<V1Pod>(
  (v) => savedPodNamesSchema.safeParse(v).success,
  'not a pod with a namespace, name, uid and containers named as Kubernetes names them',
);

export const migrateProgressSchema = z.object({
  stage: z.enum(['started', 'checkpointed', 'restored', 'created', 'done']).optional(),
  target: nodeNameSchema.optional(),
  original: podSchema.optional(),
  restore: restoreResponseSchema.optional(),
  archives: z.array(archiveDigestSchema).min(1).optional(),
  checkpointRequested: z.boolean().optional(),
  fallingBack: z.string().optional(),
  originalRemoved: z.boolean().optional(),
}) satisfies z.ZodType<MigrateProgress>;

// zod drops keys its schema does not name, and `satisfies` accepts a schema that leaves out an
// optional field: a field of MigrateProgress missing above would be saved and silently lost on the
// next attempt (originalRemoved was, and a retry took its own swap for someone else's delete).
type UnsavedProgressFields = Exclude<keyof MigrateProgress, keyof z.infer<typeof migrateProgressSchema>>;
const everyProgressFieldSaved: [UnsavedProgressFields] extends [never] ? true : UnsavedProgressFields = true;
void everyProgressFieldSaved;

/** What this deployment's checkpoint images look like, for the check on restored images. */
export interface CheckpointImages {
  repository: string;
  checkpointId: string;
}

/**
 * The progress a migration saved, or an empty one on its first run. A
 * progress whose signature does not hold, or that names a restored image
 * this deployment did not make, is refused: it could skip the restore and
 * start an attacker's image under the victim's identity.
 */
export function verifiedProgress(
  job: Pick<Job, 'id' | 'name' | 'queueName' | 'progress'>,
  signer: JobSigner,
  images: CheckpointImages,
  namespace: string,
): MigrateProgress {
  const raw = job.progress;
  // BullMQ's progress before anything was saved.
  if (typeof raw === 'number' || raw === undefined || raw === null) return {};
  const problem = signer.problem(progressScope(job), raw);
  if (problem) throw new RefusedJob('progress', `refused job ${job.id}: its saved progress has ${problem}`);
  const r = migrateProgressSchema.safeParse(raw);
  if (!r.success)
    throw new RefusedJob('progress', `refused job ${job.id}: invalid saved progress: ${r.error.message}`);
  const p = r.data as MigrateProgress;
  if (p.restore && p.original) {
    const foreign = foreignImage(p.restore, images, namespace, restoredPodName(p.original));
    if (foreign) throw new RefusedJob('image', `refused job ${job.id}: ${foreign}`);
  } else if (p.restore?.containers.some((c) => c.image)) {
    throw new RefusedJob('image', `refused job ${job.id}: a restored image without the pod it belongs to`);
  }
  return p;
}

/** The progress as it is saved: signed, so that the next attempt can trust it. */
export function signedProgress(
  job: Pick<Job, 'id' | 'name' | 'queueName'>,
  signer: JobSigner,
  p: MigrateProgress,
): object {
  return signer.signed(progressScope(job), JSON.parse(JSON.stringify(p)) as Record<string, unknown>);
}

/**
 * Why a restore's images are not all checkpoint images this deployment made
 * for this pod (the image the target agent names after the checkpoint), or
 * undefined when they are.
 */
export function foreignImage(
  restore: RestoreResponse,
  images: CheckpointImages,
  namespace: string,
  pod: string,
): string | undefined {
  for (const c of restore.containers) {
    if (c.image === undefined) continue;
    const expected = checkpointImageRef(images.repository, namespace, pod, c.name, images.checkpointId);
    if (c.image !== expected)
      return `container ${c.name} would run ${c.image}, not the checkpoint image ${expected}`;
  }
  return undefined;
}
