import { z } from 'zod';
import {
  containerNameSchema,
  namespaceNameSchema,
  nodeNameSchema,
  podNameSchema,
  podUidSchema,
} from './kube-names.js';

/**
 * The contract between the worker (the only caller) and the node agent.
 * Both sides validate with these schemas.
 */

export const checkpointIdSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lower-case letters, digits, dashes');

export const s3LocationSchema = z.object({
  bucket: z.string().min(3),
  key: z.string().min(1),
});
export type S3Location = z.infer<typeof s3LocationSchema>;

/**
 * Short-lived S3 credentials the worker obtained for one operation (an STS
 * session of the archive-access role, limited by a session policy to that
 * operation's prefix). The agent uses them for that operation's S3 calls
 * only, and never logs them. Absent: the agent uses its own credentials.
 */
export const archiveCredentialsSchema = z.object({
  accessKeyId: z.string().min(16).max(128),
  secretAccessKey: z.string().min(1).max(256),
  sessionToken: z.string().min(1).max(8192),
  expiration: z.string().datetime(),
});
export type ArchiveCredentials = z.infer<typeof archiveCredentialsSchema>;

export const checkpointRequestSchema = z.object({
  namespace: namespaceNameSchema,
  pod: podNameSchema,
  podUid: podUidSchema,
  containers: z.array(containerNameSchema).min(1),
  checkpointId: checkpointIdSchema,
  /** ISO 8601: past this the agent abandons the checkpoint and answers with an error. */
  deadline: z.string().datetime(),
  /** Where the archives and manifest.json go: s3://bucket/prefix/<container>.tar.zst */
  s3: z.object({ bucket: z.string().min(3), prefix: z.string().min(1) }),
  /** The original pod spec, recorded in the manifest so a restore can rebuild the pod. */
  podSpec: z.unknown().optional(),
  eventId: z.string().optional(),
  credentials: archiveCredentialsSchema.optional(),
  /**
   * Memory the dump will write (all containers). With it the agent admits the
   * checkpoint only if its estimate, behind the node's queue, stores the
   * archive before `deadline`, and refuses it at once otherwise (422
   * would-miss-deadline, nothing frozen). Without it there is no estimate and
   * only the deadline bounds the checkpoint.
   */
  memoryBytes: z.number().int().positive().optional(),
  /** When the pod started: how much work a drain would throw away, the tie-break among equal checkpoints. */
  podStartedAt: z.string().datetime().optional(),
});
export type CheckpointRequest = z.infer<typeof checkpointRequestSchema>;

/**
 * The fastest checkpoint throughput an agent may report (16 GiB/s, more than
 * a 100 Gb/s network carries). The worker's cut-off stays the authority
 * whatever an agent says: a faster figure only makes the worker ask that
 * agent rather than drain the pod itself, and the checkpoint still ends at
 * its deadline.
 */
export const MAX_REPORTED_BYTES_PER_SEC = 16 * 2 ** 30;

/**
 * The throughput a node's agent plans its checkpoints with: measured from its
 * own recent checkpoints, or still its configured assumption. The worker
 * gates later pods of that node with a measured one.
 */
export const agentThroughputSchema = z.object({
  bytesPerSec: z.number().positive().max(MAX_REPORTED_BYTES_PER_SEC),
  basis: z.enum(['measured', 'assumed']),
});
export type AgentThroughput = z.infer<typeof agentThroughputSchema>;

/**
 * Where a checkpoint stands (202 to POST /v1/checkpoints with
 * `Prefer: respond-async`, and GET /v1/checkpoints/:checkpointId). Accepted
 * checkpoints are `queued` (the process runs on, waiting for a slot),
 * `running` (frozen, dumping and uploading), then `stored` or `failed`.
 */
export const checkpointStatusSchema = z.object({
  checkpointId: checkpointIdSchema,
  state: z.enum(['queued', 'running', 'stored', 'failed']),
  /** While queued or running: when the archive is expected to be stored, from this node's measured throughput. */
  estimatedStoredAt: z.string().datetime().optional(),
  /**
   * The node's throughput as of this answer. A figure out of bounds is
   * dropped rather than failing the checkpoint it came with.
   */
  throughput: agentThroughputSchema.optional().catch(undefined),
  /** Failed: why, as the synchronous call would have answered (would-miss-deadline when re-planned out of the queue). */
  error: z.lazy(() => agentErrorSchema).optional(),
  /**
   * Stored: the digests of the archives as this agent stored them. The worker
   * keeps these and the restore is verified against them, never against the
   * manifest that lies beside the archives in S3.
   */
  archives: z.lazy(() => z.array(archiveDigestSchema).min(1)).optional(),
});
export type CheckpointStatus = z.infer<typeof checkpointStatusSchema>;

export const stageTimingsSchema = z.object({
  /** Container frozen and dumped (CRIU / kubelet). */
  checkpointMs: z.number().nonnegative(),
  /** Archive streamed through zstd into S3, from first byte to upload completed. */
  uploadMs: z.number().nonnegative(),
  totalMs: z.number().nonnegative(),
  /** Waiting for one of the node's checkpoint slots before the dump (the process ran on meanwhile). */
  queuedMs: z.number().nonnegative().optional(),
});

export const containerArchiveSchema = z.object({
  name: containerNameSchema,
  key: z.string().min(1),
  bytesRaw: z.number().int().nonnegative(),
  bytesCompressed: z.number().int().nonnegative(),
  /** sha256 (hex) of the object as stored in S3 (the compressed archive). */
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  timings: stageTimingsSchema,
});
export type ContainerArchive = z.infer<typeof containerArchiveSchema>;

export const manifestSchema = z.object({
  version: z.literal(1),
  checkpointId: checkpointIdSchema,
  cluster: z.string(),
  namespace: namespaceNameSchema,
  pod: podNameSchema,
  podUid: podUidSchema,
  sourceNode: nodeNameSchema,
  sourceInstanceId: z.string().optional(),
  runtime: z.enum(['runc', 'kubelet']),
  criuVersion: z.string(),
  createdAt: z.string().datetime(),
  completedAt: z.string().datetime(),
  eventId: z.string().optional(),
  podSpec: z.unknown().optional(),
  containers: z.array(containerArchiveSchema).min(1),
});
export type Manifest = z.infer<typeof manifestSchema>;

/**
 * What the source agent answered for one container's archive, kept by the
 * worker and sent to the target: the target verifies the download against
 * these, never against the manifest stored beside the archive (whoever can
 * write the archive can write a matching manifest too).
 */
export const archiveDigestSchema = containerArchiveSchema.pick({
  name: true,
  key: true,
  bytesRaw: true,
  bytesCompressed: true,
  sha256: true,
});
export type ArchiveDigest = z.infer<typeof archiveDigestSchema>;

/** The digests of a checkpoint's archives, as the worker sends them in a restore request. */
export function archiveDigests(m: Pick<Manifest, 'containers'>): ArchiveDigest[] {
  return m.containers.map(({ name, key, bytesRaw, bytesCompressed, sha256 }) => ({
    name,
    key,
    bytesRaw,
    bytesCompressed,
    sha256,
  }));
}

export const restoreRequestSchema = z.object({
  manifest: s3LocationSchema,
  /** The source agent's digests of every archive to restore. */
  archives: z.array(archiveDigestSchema).min(1),
  /** The pod the containers are restored into (namespace/name of the restored Pod). */
  target: z.object({ namespace: namespaceNameSchema, pod: podNameSchema }),
  /** Containers to restore; all of the manifest's when omitted. */
  containers: z.array(containerNameSchema).optional(),
  deadline: z.string().datetime().optional(),
  credentials: archiveCredentialsSchema.optional(),
});
export type RestoreRequest = z.infer<typeof restoreRequestSchema>;

export const restoredContainerSchema = z.object({
  name: containerNameSchema,
  /** kubelet runtime: the checkpoint image the restored pod's container must use. */
  image: z.string().optional(),
  downloadMs: z.number().nonnegative(),
  restoreMs: z.number().nonnegative(),
});

export const restoreResponseSchema = z.object({
  runtime: z.enum(['runc', 'kubelet']),
  node: nodeNameSchema,
  containers: z.array(restoredContainerSchema),
});
export type RestoreResponse = z.infer<typeof restoreResponseSchema>;

/**
 * What this node can do, as its agent measured it at start-up and re-checks
 * (GET /v1/capabilities, and summarised in /readyz). The worker never picks a
 * node that cannot restore as a target, and drains at once (never freezes) a
 * pod whose node cannot checkpoint.
 */
export const capabilitySchema = z.object({
  ok: z.boolean(),
  /** Why not, in words an operator can act on (e.g. "criu not found on containerd's PATH"). */
  reason: z.string().optional(),
});
export const nodeCapabilitiesSchema = z.object({
  node: nodeNameSchema,
  runtime: z.object({
    /** 'runc' (local simulation), 'containerd' or 'cri-o' (kubelet runtime). */
    name: z.enum(['runc', 'containerd', 'cri-o', 'unknown']),
    version: z.string(),
  }),
  criu: z.object({ found: z.boolean(), version: z.string().optional() }),
  checkpoint: capabilitySchema,
  restore: capabilitySchema,
  checkedAt: z.string().datetime(),
});
export type NodeCapabilities = z.infer<typeof nodeCapabilitiesSchema>;

/**
 * Ends whatever a checkpoint left on the source node (POST /v1/releases): the
 * containers are thawed (unfrozen) if this agent froze them, and any raw dump
 * it still holds is removed. Idempotent: releasing a container that is not
 * frozen answers 200 with thawed: [].
 */
export const releaseRequestSchema = z.object({
  namespace: namespaceNameSchema,
  pod: podNameSchema,
  podUid: podUidSchema,
  containers: z.array(containerNameSchema).min(1),
  checkpointId: checkpointIdSchema,
});
export type ReleaseRequest = z.infer<typeof releaseRequestSchema>;
export const releaseResponseSchema = z.object({
  thawed: z.array(containerNameSchema),
});
export type ReleaseResponse = z.infer<typeof releaseResponseSchema>;

/**
 * What an agent planned a would-miss-deadline refusal (or drop) with: the
 * time the checkpoint needed from the answer until stored, behind the node's
 * queue and with the admission margin for a new one, against the time left
 * before its cut-off, and the throughput behind both.
 */
export const refusalPlanSchema = z.object({
  neededMs: z.number().nonnegative(),
  leftMs: z.number(),
  /** The checkpoint's own dump + upload estimate (ms), without the queue. */
  durationMs: z.number().nonnegative(),
  /** The slow-down the refusing schedule assumed: the admission factor for a new checkpoint, 1 for a drop. */
  admissionFactor: z.number().min(1),
  throughput: agentThroughputSchema,
});
export type RefusalPlan = z.infer<typeof refusalPlanSchema>;

/** Errors come back as { error: code, message }, and for would-miss-deadline the plan's figures. */
export const agentErrorSchema = z.object({
  error: z.enum([
    'unauthenticated',
    'forbidden',
    'bad-request',
    'not-found',
    'deadline-exceeded',
    'integrity-mismatch',
    'runtime-failed',
    'storage-failed',
    /** Another operation on the same container is in progress (HTTP 409). */
    'conflict',
    /** A restore's container already exists on the node, from an earlier call for the same pod (HTTP 409). */
    'already-exists',
    /** This node cannot do what was asked (no CRIU, restore disabled...): HTTP 422, do not retry here. */
    'unsupported',
    /** The archive cannot be stored before the request's deadline on this node (HTTP 422): drain the pod now. */
    'would-miss-deadline',
  ]),
  message: z.string(),
  /** Figures out of bounds are dropped rather than failing the error they came with. */
  plan: refusalPlanSchema.optional().catch(undefined),
});
export type AgentError = z.infer<typeof agentErrorSchema>;

/** The shared audience of earlier versions; no agent accepts it any more (a token for it opened every agent). */
export const AGENT_TOKEN_AUDIENCE = 'spot-rescue-agent';

/**
 * The audience of the token the worker presents to one node's agent: a token
 * is good for that node only, so an agent (or anyone on its node) that
 * replays the worker's token reaches no other agent.
 */
export function agentTokenAudience(node: string): string {
  return `${AGENT_TOKEN_AUDIENCE}/${node}`;
}
