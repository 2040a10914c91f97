import { setTimeout as delay } from 'node:timers/promises';
import type { V1Pod } from '@kubernetes/client-node';
import type { ArchiveDigest, Manifest, RestoreResponse } from '../../common/agent-api.js';
import type { PodEventReason } from '../../common/event-reasons.js';
import type { MigratePodJob, ProvisionCapacityJob } from '../../common/jobs.js';
import type { Logger } from '../../common/logger.js';
import type { PodOutcome } from '../../common/outcomes.js';
import type { AgentClient } from '../agent-client.js';
import type { AgentRates } from '../agent-rates.js';
import type { ArchiveAccess } from '../archive-access.js';
import type { ThroughputEstimate } from '../budget.js';
import type { Cluster } from '../cluster.js';
import type { ManifestStore } from '../manifest-store.js';
import type { WorkerMetrics } from '../metrics.js';
import type { Reservations } from '../reservations.js';
import type { RestoreGrants } from '../restore-grants.js';
import { checkpointIdFor, checkpointPrefix } from '../restored-pod.js';
import type { WorkerConfig } from '../settings.js';
import type { NodeCapabilityCache } from './capabilities.js';
import type { PodLease, PodLeases } from './lease.js';

/** What a migration has done so far, saved with the job so a retry carries on from there. */
export interface MigrateProgress {
  stage?: 'started' | 'checkpointed' | 'restored' | 'created' | 'done';
  target?: string;
  /** The original pod as first seen, so a retry can rebuild the restored pod after the original is gone. */
  original?: V1Pod;
  restore?: RestoreResponse;
  /** The source agent's digests of the archives, sent to the target, which verifies the download against them. */
  archives?: ArchiveDigest[];
  /** A checkpoint was asked of the source agent: whatever path ends the job releases (thaws) the original. */
  checkpointRequested?: boolean;
  /** Why the migration gave up; a retry carries on with the fallback instead of migrating again. */
  fallingBack?: string;
  /**
   * Saved before this migration removes the original for the swap: an
   * original gone without it was taken over by someone else (taken-over.ts).
   */
  originalRemoved?: boolean;
}

export interface JobHandle {
  /** The job's id: the holder of the pod's lease, the same across its retries. */
  id: string;
  /** The last run BullMQ gives this job: a throw here would end it without an outcome. */
  finalAttempt: boolean;
  progress(): MigrateProgress;
  saveProgress(p: MigrateProgress): Promise<void>;
}

export interface MigrateDeps {
  cluster: Cluster;
  agents: AgentClient;
  capabilities: NodeCapabilityCache;
  leases: PodLeases;
  manifests: ManifestStore;
  /** Scoped S3 credentials handed to the agents for each checkpoint and restore; absent: agents use their own. */
  archiveAccess?: ArchiveAccess;
  reservations: Reservations;
  /** Asked before a checkpoint whether the pod may be restored as its ServiceAccount; absent: not asked. */
  restoreGrants?: RestoreGrants;
  throughput: ThroughputEstimate;
  /** What each node's agent measured itself; the budget prefers it to the cluster-wide estimate for that node's pods. */
  agentRates: AgentRates;
  metrics: WorkerMetrics;
  log: Logger;
  config: Pick<
    WorkerConfig,
    | 'clusterName'
    | 's3Bucket'
    | 'checkpointOverheadMs'
    | 'checkpointEstimateMarginSeconds'
    | 'safetyFactor'
    | 'checkpointRetrySeconds'
    | 'safetyMarginMs'
    | 'maxFallbackGraceSeconds'
    | 'evictionLeadMs'
    | 'defaultMemoryMiB'
    | 'restoreTimeoutSeconds'
    | 'restoredSettleSeconds'
    | 'provisionMode'
    | 'imageRepository'
  >;
  requestCapacity(job: ProvisionCapacityJob): Promise<void>;
  /** Called once per job with its outcome (EMF line, audit). */
  onOutcome?(o: { job: MigratePodJob; outcome: PodOutcome; reason?: string; manifest?: Manifest }): void;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  pollMs?: number;
}

export interface MigrateResult {
  outcome: PodOutcome;
  reason?: string;
  target?: string;
  restoredPod?: string;
}

/** A stage that cannot go on: the migration falls back to draining the original. */
export class FallBack extends Error {}

/** One migration's identity, clocks and bookkeeping, shared by its stages. */
export interface Run {
  job: MigratePodJob;
  d: MigrateDeps;
  handle: JobHandle;
  log: Logger;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  pollMs: number;
  namespace: string;
  name: string;
  uid: string;
  /** Epoch ms the source node dies. */
  deadline: number;
  /** Epoch ms past which a restore that has not run is given up. */
  restoreDeadline: number;
  /** The reservation holder of this pod. */
  holder: string;
  checkpointId: string;
  prefix: string;
  manifestKey: string;
  progress: MigrateProgress;
  /** This job's hold on the pod; checked before anything destructive. */
  lease?: PodLease;
  /** In the last-resort fallback Redis may be what failed: its saves and lease checks no longer stop a drain. */
  lastResort?: boolean;
  save(p: Partial<MigrateProgress>): Promise<void>;
  /** Records the outcome (metric, EMF, log) exactly once and returns it. */
  finish(r: MigrateResult, manifest?: Manifest): MigrateResult;
  finished(): MigrateResult | undefined;
  /** A Kubernetes Event on the pod; never fails the migration. */
  event(
    pod: V1Pod | null | undefined,
    type: 'Normal' | 'Warning',
    reason: PodEventReason,
    msg: string,
  ): Promise<void>;
}

export function startRun(job: MigratePodJob, handle: JobHandle, d: MigrateDeps): Run {
  const { namespace, name, uid } = job.pod;
  const deadline = Date.parse(job.deadline);
  const checkpointId = checkpointIdFor(job.event.id, uid);
  const prefix = checkpointPrefix(d.config.clusterName, job.pod, checkpointId);
  const log = d.log.child({ pod: `${namespace}/${name}`, uid, event: job.event.id });
  let result: MigrateResult | undefined;
  const run: Run = {
    job,
    d,
    handle,
    log,
    now: d.now ?? Date.now,
    sleep: d.sleep ?? delay,
    pollMs: d.pollMs ?? 500,
    namespace,
    name,
    uid,
    deadline,
    restoreDeadline: deadline + d.config.restoreTimeoutSeconds * 1000,
    holder: `migrate/${uid}`,
    checkpointId,
    prefix,
    manifestKey: `${prefix}/manifest.json`,
    progress: { ...handle.progress() },
    async save(p) {
      run.progress = { ...run.progress, ...p };
      await handle.saveProgress(run.progress);
    },
    finish(r, manifest) {
      if (result) return result;
      result = r;
      d.metrics.outcomes.inc({ outcome: r.outcome, job_name: 'migrate-pod' });
      d.onOutcome?.({
        job,
        outcome: r.outcome,
        ...(r.reason ? { reason: r.reason } : {}),
        ...(manifest ? { manifest } : {}),
      });
      log.info({ outcome: r.outcome, reason: r.reason, target: r.target }, 'migration finished');
      return r;
    },
    finished: () => result,
    async event(pod, type, reason, msg) {
      if (!pod) return;
      try {
        await d.cluster.recordEvent(pod, type, reason, msg);
      } catch (err) {
        log.warn({ err: (err as Error).message, reason }, 'could not record event');
      }
    },
  };
  return run;
}

/** What is worth keeping of a pod to rebuild it: metadata and spec, no status. */
export function strip(pod: V1Pod): V1Pod {
  const m = pod.metadata ?? {};
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: m.name,
      namespace: m.namespace,
      uid: m.uid,
      labels: m.labels,
      annotations: m.annotations,
      ownerReferences: m.ownerReferences,
      finalizers: m.finalizers,
    },
    spec: pod.spec,
  } as V1Pod;
}
