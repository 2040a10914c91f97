import type { V1Pod } from '@kubernetes/client-node';
import type { Manifest, RestoreRequest, RestoreResponse } from '../common/agent-api.js';
import type { MigratePodJob, ProvisionCapacityJob } from '../common/jobs.js';
import { TAINT_KEY } from '../common/labels.js';
import type { Logger } from '../common/logger.js';
import { checkpointMemoryEstimate } from '../common/pod-memory.js';
import { AgentCallError, type AgentClient } from './agent-client.js';
import { fallbackGraceSeconds, manifestThroughput, planBudget, type ThroughputEstimate } from './budget.js';
import { type Cluster, statusOf } from './cluster.js';
import { evictWithDeadline } from './eviction.js';
import type { ManifestStore } from './manifest-store.js';
import { nodeView, occupiesNode, ownerKey, podDemand } from './node-view.js';
import { choosePlacement, freeOn, type NodeView } from './placement.js';
import { podRequests, type Resources } from './pod-resources.js';
import type { Reservations } from './reservations.js';
import {
  adoptionPatch,
  buildRestoredPod,
  checkpointIdFor,
  checkpointPrefix,
  controllerOf,
  DELETION_COST_ANNOTATION,
  isRunning,
  isStaged,
  LOWEST_DELETION_COST,
  RESTORED_FROM_LABEL,
  replaceStrategy,
} from './restored-pod.js';
import type { WorkerConfig } from './settings.js';
import type { PodOutcome, WorkerMetrics } from './worker-metrics.js';

/** What a migration has done so far, saved with the job so a retry carries on from there. */
export interface MigrateProgress {
  stage?: 'started' | 'checkpointed' | 'restored' | 'created' | 'done';
  target?: string;
  /** The original pod as first seen, so a retry can rebuild the restored pod after the original is gone. */
  original?: V1Pod;
  restore?: RestoreResponse;
}

export interface JobHandle {
  progress(): MigrateProgress;
  saveProgress(p: MigrateProgress): Promise<void>;
}

export interface MigrateDeps {
  cluster: Cluster;
  agents: AgentClient;
  manifests: ManifestStore;
  reservations: Reservations;
  throughput: ThroughputEstimate;
  metrics: WorkerMetrics;
  log: Logger;
  config: Pick<
    WorkerConfig,
    | 'clusterName'
    | 's3Bucket'
    | 'checkpointOverheadMs'
    | 'safetyFactor'
    | 'safetyMarginMs'
    | 'maxFallbackGraceSeconds'
    | 'evictionLeadMs'
    | 'defaultMemoryMiB'
    | 'restoreTimeoutSeconds'
    | 'provisionMode'
  >;
  requestCapacity(job: ProvisionCapacityJob): Promise<void>;
  /** Called once per pod with its outcome (EMF line, audit). */
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

class FallBack extends Error {}

/** How many times a restored pod deleted by someone else before it ran is created again. */
const MAX_RECREATES = 3;

/**
 * migrate-pod: budget -> target -> checkpoint on the source agent -> restore
 * on the target agent -> restored Pod -> running -> original removed. Any
 * step that cannot finish in time, or fails for good, ends in an eviction
 * of the original while it still exists. Safe to run again at any point.
 */
export async function migratePod(
  job: MigratePodJob,
  handle: JobHandle,
  d: MigrateDeps,
): Promise<MigrateResult> {
  const now = d.now ?? Date.now;
  const sleep = d.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const pollMs = d.pollMs ?? 500;
  const { namespace, name, uid } = job.pod;
  const deadline = Date.parse(job.deadline);
  const restoreDeadline = deadline + d.config.restoreTimeoutSeconds * 1000;
  const holder = `migrate/${uid}`;
  const log = d.log.child({ pod: `${namespace}/${name}`, uid, event: job.event.id });
  const checkpointId = checkpointIdFor(job.event.id, uid);
  const prefix = checkpointPrefix(d.config.clusterName, job.pod, checkpointId);
  const manifestKey = `${prefix}/manifest.json`;
  let progress = { ...handle.progress() };
  const save = async (p: Partial<MigrateProgress>) => {
    progress = { ...progress, ...p };
    await handle.saveProgress(progress);
  };
  const finish = (r: MigrateResult, manifest?: Manifest): MigrateResult => {
    d.metrics.outcomes.inc({ outcome: r.outcome, job: 'migrate-pod' });
    d.onOutcome?.({
      job,
      outcome: r.outcome,
      ...(r.reason ? { reason: r.reason } : {}),
      ...(manifest ? { manifest } : {}),
    });
    log.info({ outcome: r.outcome, reason: r.reason, target: r.target }, 'migration finished');
    return r;
  };
  const event = async (
    pod: V1Pod | null | undefined,
    type: 'Normal' | 'Warning',
    reason: string,
    msg: string,
  ) => {
    if (!pod) return;
    try {
      await d.cluster.recordEvent(pod, type, reason, msg);
    } catch (err) {
      log.warn({ err: (err as Error).message, reason }, 'could not record event');
    }
  };

  const current = await d.cluster.getPod(namespace, name);
  const original = current?.metadata?.uid === uid ? current : null;
  const restored = await findRestored(d.cluster, namespace, uid);

  // A previous attempt finished: make sure the original is gone and stop.
  if (restored && isRunning(restored) && !isStaged(restored)) {
    if (original) await d.cluster.deletePod(namespace, name, uid, 0);
    await d.reservations.release(holder);
    return finish({
      outcome: 'restored',
      target: restored.spec?.nodeName,
      restoredPod: restored.metadata?.name,
    });
  }
  const base = original ?? progress.original;
  if (!base) return finish({ outcome: 'gone', reason: 'the pod no longer exists' });
  if (!progress.original) await save({ original: strip(base), stage: progress.stage ?? 'started' });

  const evictOriginal = async (reason: string): Promise<MigrateResult> => {
    await d.reservations.release(holder);
    const pod = await d.cluster.getPod(namespace, name);
    if (!pod || pod.metadata?.uid !== uid) return finish({ outcome: 'gone', reason });
    await event(pod, 'Warning', 'RescueFellBackToEviction', reason);
    const grace = fallbackGraceSeconds({
      now: now(),
      deadline,
      gracePeriodSeconds: Math.min(
        pod.spec?.terminationGracePeriodSeconds ?? 30,
        d.config.maxFallbackGraceSeconds,
      ),
      evictionLeadMs: d.config.evictionLeadMs,
    });
    const r = await evictWithDeadline(d.cluster, pod, {
      deadline,
      gracePeriodSeconds: grace,
      leadMs: d.config.evictionLeadMs,
      now,
      sleep,
    });
    return finish({ outcome: r === 'gone' ? 'gone' : 'evicted', reason });
  };

  try {
    // 1. Checkpoint (skipped when a previous attempt already stored the archive).
    let manifest = await d.manifests.read(d.config.s3Bucket, manifestKey);
    if (!manifest) {
      if (!original) return finish({ outcome: 'gone', reason: 'the pod disappeared before its checkpoint' });
      const plan = planBudget({
        now: now(),
        deadline,
        memoryBytes: checkpointMemoryEstimate(original, d.config.defaultMemoryMiB * 2 ** 20),
        throughputBytesPerSec: d.throughput.bytesPerSec,
        fixedOverheadMs: d.config.checkpointOverheadMs,
        safetyFactor: d.config.safetyFactor,
        safetyMarginMs: d.config.safetyMarginMs,
        gracePeriodSeconds: original.spec?.terminationGracePeriodSeconds ?? 30,
        maxFallbackGraceMs: d.config.maxFallbackGraceSeconds * 1000,
        evictionLeadMs: d.config.evictionLeadMs,
      });
      if (plan.action === 'evict') return await evictOriginal(`out of budget: ${plan.reason}`);
      await event(
        original,
        'Normal',
        'RescueStarted',
        `spot interruption ${job.event.id}: migrating from ${job.node.name} (checkpoint ~${plan.estimateMs} ms, deadline ${job.deadline})`,
      );
      // Look for a target before dumping so capacity can be provisioned while the checkpoint runs.
      const early = await d.metrics.stage('placement', () => place(d, original, holder, job));
      if (early) await save({ target: early });
      else await askForCapacity(d, job, original, log);
      const signal = AbortSignal.timeout(Math.max(1, plan.checkpointBy - now()));
      try {
        const t0 = now();
        await d.metrics.stage('checkpoint', () =>
          d.agents.checkpoint(
            job.node.name,
            {
              namespace,
              pod: name,
              podUid: uid,
              containers: (original.spec?.containers ?? []).map((c) => c.name),
              checkpointId,
              deadline: new Date(plan.checkpointBy).toISOString(),
              s3: { bucket: d.config.s3Bucket, prefix },
              podSpec: strip(original),
              eventId: job.event.id,
            },
            signal,
          ),
        );
        manifest = await d.manifests.read(d.config.s3Bucket, manifestKey);
        if (!manifest)
          throw new Error(`agent answered but ${manifestKey} is not in s3://${d.config.s3Bucket}`);
        log.info({ ms: now() - t0, checkpointId }, 'checkpointed');
      } catch (err) {
        return await evictOriginal(`checkpoint failed: ${(err as Error).message}`);
      }
      const margin = (deadline - Date.parse(manifest.completedAt)) / 1000;
      d.metrics.uploadMarginSeconds.observe(margin);
      for (const c of manifest.containers) {
        d.metrics.stageSeconds.observe({ stage: 'dump' }, c.timings.checkpointMs / 1000);
        d.metrics.stageSeconds.observe({ stage: 'upload' }, c.timings.uploadMs / 1000);
      }
      d.throughput.observe(manifestThroughput(manifest, d.config.checkpointOverheadMs));
      d.metrics.throughput.set(d.throughput.bytesPerSec);
      await event(
        original,
        'Normal',
        'Checkpointed',
        `checkpoint ${checkpointId} stored in s3://${d.config.s3Bucket}/${prefix} with ${Math.round(margin)} s to spare`,
      );
    }
    await save({ stage: progress.stage === 'started' || !progress.stage ? 'checkpointed' : progress.stage });

    // 2. A target: the one chosen before (if still usable), or wait for one (maybe being provisioned).
    let target = progress.target && (await usable(d, progress.target)) ? progress.target : null;
    if (!target) {
      const pod = original ?? base;
      await askForCapacity(d, job, pod, log, true);
      target = await waitForTarget(d, pod, holder, job, restoreDeadline, now, sleep, pollMs * 4);
      if (!target) throw new FallBack('no node can take the pod');
      await save({ target });
    }

    // 3. Restore on the target's agent (once: the response is saved).
    let restore =
      progress.stage === 'restored' || progress.stage === 'created' ? progress.restore : undefined;
    if (!restore) {
      const t0 = now();
      restore = await d.metrics.stage('restore', () =>
        retryTransient(
          () =>
            restoreOnce(
              d.agents,
              target,
              {
                manifest: { bucket: d.config.s3Bucket, key: manifestKey },
                target: {
                  namespace,
                  pod:
                    buildRestoredPod({ original: base, targetNode: target, checkpointId }).metadata?.name ??
                    name,
                },
                deadline: new Date(restoreDeadline).toISOString(),
              },
              AbortSignal.timeout(Math.max(1, restoreDeadline - now())),
            ),
          restoreDeadline,
          now,
          sleep,
        ),
      );
      log.info({ ms: now() - t0, target }, 'restored on target agent');
      await save({ stage: 'restored', restore });
    }

    // 4. The restored Pod, replacing the original without its controller noticing a gap.
    const desired = buildRestoredPod({ original: base, targetNode: target, checkpointId, restore });
    const strategy = replaceStrategy(base);
    const createRestored = () =>
      strategy === 'same-name'
        ? replaceUnderSameName(d.cluster, desired, uid)
        : createOrGet(d.cluster, desired, uid);
    let created = await d.metrics.stage('create', createRestored);
    await save({ stage: 'created' });
    await d.reservations.release(holder);
    log.info({ restoredPod: created.metadata?.name, target, strategy }, 'restored pod created');

    let recreated = 0;
    created = await d.metrics
      .stage('ready', () =>
        waitFor(
          async () => {
            const p = await d.cluster.getPod(namespace, created.metadata?.name ?? '');
            if (!p && recreated < MAX_RECREATES) {
              // Its process already runs on the target; only the Pod object went. A delete
              // of the original by name alone (kwok does this; a kubelet checks the uid)
              // can land on a same-name successor created a moment later.
              recreated++;
              log.warn(
                { restoredPod: created.metadata?.name, recreated },
                'restored pod vanished; creating it again',
              );
              created = await createRestored();
              return null;
            }
            return p && isRunning(p) ? p : null;
          },
          restoreDeadline,
          now,
          sleep,
          pollMs,
        ),
      )
      .then((p) => {
        if (!p) throw new FallBack('the restored pod did not become ready in time');
        return p;
      });

    if (isStaged(created)) {
      // A Job controller ignores pod-deletion-cost: seeing two active pods it would
      // remove the newer one, the restored copy. So a Job's original goes first; the
      // controller counts it failed and waits out its backoff (10 s) before starting
      // another, long after the adoption below.
      const jobOwned = controllerOf(base)?.kind === 'Job';
      if (jobOwned) await d.cluster.deletePod(namespace, name, uid, 0);
      else {
        const orig = await d.cluster.getPod(namespace, name);
        if (orig && orig.metadata?.uid === uid) {
          await d.cluster.patchPod(namespace, name, {
            metadata: { annotations: { [DELETION_COST_ANNOTATION]: LOWEST_DELETION_COST } },
          });
        }
      }
      created = await d.cluster.patchPod(namespace, created.metadata?.name ?? '', adoptionPatch(created));
      if (!jobOwned) await d.cluster.deletePod(namespace, name, uid, 0);
    }
    await event(
      created,
      'Normal',
      'Restored',
      `restored from ${namespace}/${name} (${uid}) on ${job.node.name} via checkpoint ${checkpointId}`,
    );
    await save({ stage: 'done' });
    return finish({ outcome: 'restored', target, restoredPod: created.metadata?.name }, manifest);
  } catch (err) {
    const reason = err instanceof FallBack ? err.message : `migration failed: ${(err as Error).message}`;
    log.warn({ err: (err as Error).message }, 'migration failed, falling back');
    const leftover = await findRestored(d.cluster, namespace, uid);
    // A restored copy that never became a member of its controller is removed; one that did stays.
    if (leftover && (isStaged(leftover) || !isRunning(leftover))) {
      const still = await d.cluster.getPod(namespace, name);
      if (isStaged(leftover) || (still && still.metadata?.uid === uid)) {
        await d.cluster.deletePod(namespace, leftover.metadata?.name ?? '', leftover.metadata?.uid ?? '', 0);
      }
    }
    return await evictOriginal(reason);
  }
}

/** What is worth keeping of a pod to rebuild it: metadata and spec, no status. */
function strip(pod: V1Pod): V1Pod {
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

async function findRestored(cluster: Cluster, namespace: string, uid: string): Promise<V1Pod | null> {
  const pods = await cluster.listPods(namespace, `${RESTORED_FROM_LABEL}=${uid}`);
  return pods.find((p) => !p.metadata?.deletionTimestamp) ?? null;
}

async function usable(d: MigrateDeps, node: string): Promise<boolean> {
  const n = await d.cluster.getNode(node);
  if (!n) return false;
  const v = nodeView(n);
  return v.ready && !v.unschedulable && !v.taints.some((t) => t.key === TAINT_KEY);
}

/** Chooses a node and reserves the pod's requests on it; null when none fits. */
async function place(d: MigrateDeps, pod: V1Pod, holder: string, job: MigratePodJob): Promise<string | null> {
  const held = await d.reservations.heldBy(holder);
  if (held && (await usable(d, held))) return held;
  const requests = podRequests(pod);
  for (let attempt = 0; attempt < 5; attempt++) {
    const [nodes, volumeZones] = await Promise.all([d.cluster.listNodes(), d.cluster.volumeZones(pod)]);
    const views = nodes.map(nodeView);
    const byName = new Map<string, NodeView>(views.map((v) => [v.name, v]));
    const interrupted = new Set(
      views.filter((v) => v.taints.some((t) => t.key === TAINT_KEY)).map((v) => v.name),
    );
    interrupted.add(job.node.name);
    const demand = podDemand(pod, byName.get(job.node.name), volumeZones);
    // Only nodes that pass every other constraint are worth counting pods on.
    const unbounded = {
      cpuMillis: Number.MAX_SAFE_INTEGER,
      memoryBytes: Number.MAX_SAFE_INTEGER,
      pods: Number.MAX_SAFE_INTEGER,
    };
    const roomy = views.map((v) => ({ ...v, allocatable: unbounded }));
    const pre = choosePlacement({
      pod: demand,
      nodes: roomy,
      used: new Map(),
      reserved: new Map(),
      interrupted,
    });
    const fitting = views.filter((v) => !(v.name in pre.rejected));
    // A node with no agent (not yet started, or not part of spot-rescue) cannot take a restore.
    const reachable = await d.agents.withAgents(fitting.map((v) => v.name));
    for (const v of fitting)
      if (!reachable.has(v.name)) pre.rejected[v.name] = 'no spot-rescue agent on the node';
    const candidates = fitting.filter((v) => reachable.has(v.name));
    const bound = await d.cluster.listPodsOnNodes(candidates.map((v) => v.name));
    const used = new Map<string, Resources>();
    const ownerCounts = new Map<string, Map<string, number>>();
    for (const p of bound) {
      if (!occupiesNode(p)) continue;
      const n = p.spec?.nodeName as string;
      const r = podRequests(p);
      const u = used.get(n) ?? { cpuMillis: 0, memoryBytes: 0, pods: 0 };
      used.set(n, {
        cpuMillis: u.cpuMillis + r.cpuMillis,
        memoryBytes: u.memoryBytes + r.memoryBytes,
        pods: u.pods + 1,
      });
      const k = ownerKey(p);
      if (k) {
        const m = ownerCounts.get(n) ?? new Map<string, number>();
        m.set(k, (m.get(k) ?? 0) + 1);
        ownerCounts.set(n, m);
      }
    }
    const reserved = await d.reservations.reservedOn(candidates.map((v) => v.name));
    const result = choosePlacement({
      pod: demand,
      nodes: candidates,
      used,
      reserved,
      interrupted,
      ownerCounts,
    });
    if (!result.node) {
      d.log.info(
        { pod: pod.metadata?.name, rejected: { ...pre.rejected, ...result.rejected } },
        'no node fits',
      );
      return null;
    }
    const node = byName.get(result.node) as NodeView;
    const free = freeOn(node, { used, reserved: new Map() });
    if (await d.reservations.reserve(result.node, holder, requests, free)) return result.node;
    // Another worker took the room between our read and our claim: look again.
  }
  return null;
}

async function askForCapacity(d: MigrateDeps, job: MigratePodJob, pod: V1Pod, log: Logger, quiet = false) {
  if (d.config.provisionMode === 'none') return;
  const r = podRequests(pod);
  const view = job.node.name ? await d.cluster.getNode(job.node.name) : null;
  const source = view ? nodeView(view) : undefined;
  const zones = await d.cluster.volumeZones(pod);
  try {
    await d.requestCapacity({
      event: job.event,
      node: job.node,
      cpuMillis: r.cpuMillis,
      memoryBytes: r.memoryBytes,
      ...((zones[0] ?? job.node.zone) ? { zone: zones[0] ?? job.node.zone } : {}),
      ...(source?.arch ? { arch: source.arch } : {}),
    });
  } catch (err) {
    if (!quiet) log.warn({ err: (err as Error).message }, 'could not request capacity');
  }
}

async function waitForTarget(
  d: MigrateDeps,
  pod: V1Pod,
  holder: string,
  job: MigratePodJob,
  until: number,
  now: () => number,
  sleep: (ms: number) => Promise<void>,
  pollMs: number,
): Promise<string | null> {
  for (;;) {
    const t = await place(d, pod, holder, job);
    if (t) return t;
    if (now() + pollMs >= until) return null;
    await sleep(pollMs);
  }
}

async function createOrGet(cluster: Cluster, desired: V1Pod, originalUid: string): Promise<V1Pod> {
  try {
    return await cluster.createPod(desired);
  } catch (err) {
    if (statusOf(err) !== 409) throw err;
    const existing = await cluster.getPod(desired.metadata?.namespace ?? '', desired.metadata?.name ?? '');
    if (existing?.metadata?.labels?.[RESTORED_FROM_LABEL] === originalUid) return existing;
    throw new Error(`pod ${desired.metadata?.name} exists and is not a restored copy of ${originalUid}`);
  }
}

/**
 * Deletes the original and creates the restored pod under its name. A
 * controller that got there first (a StatefulSet recreating the ordinal)
 * made an empty pod that has not run yet; it is removed and the name taken
 * again, a few times at most.
 */
async function replaceUnderSameName(cluster: Cluster, desired: V1Pod, originalUid: string): Promise<V1Pod> {
  const ns = desired.metadata?.namespace ?? '';
  const name = desired.metadata?.name ?? '';
  await cluster.deletePod(ns, name, originalUid, 0);
  for (let attempt = 0; attempt < 50; attempt++) {
    try {
      return await cluster.createPod(desired);
    } catch (err) {
      if (statusOf(err) !== 409) throw err;
    }
    const existing = await cluster.getPod(ns, name);
    if (!existing) continue;
    if (existing.metadata?.labels?.[RESTORED_FROM_LABEL] === originalUid) return existing;
    if (existing.metadata?.uid === originalUid) {
      await cluster.deletePod(ns, name, originalUid, 0);
      continue;
    }
    // No pause before the next create: the controller reacts to the delete
    // within milliseconds, and any wait hands it the name again.
    await cluster.deletePod(ns, name, existing.metadata?.uid ?? '', 0);
  }
  throw new Error(`could not take the name ${ns}/${name} back from its controller`);
}

/**
 * A worker killed after the agent restored but before it saved that fact
 * asks again; the agent refuses to restore over the container it already
 * restored for this very pod, which means the work is done.
 */
async function restoreOnce(
  agents: AgentClient,
  node: string,
  req: RestoreRequest,
  signal: AbortSignal,
): Promise<RestoreResponse> {
  try {
    return await agents.restore(node, req, signal);
  } catch (err) {
    if (err instanceof AgentCallError && /already exists/i.test(err.message)) {
      return { runtime: 'runc', node, containers: [] };
    }
    throw err;
  }
}

async function retryTransient<T>(
  fn: () => Promise<T>,
  until: number,
  now: () => number,
  sleep: (ms: number) => Promise<void>,
): Promise<T> {
  let wait = 500;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      const transient = (err as { transient?: boolean }).transient === true;
      if (!transient || now() + wait >= until) throw err;
      await sleep(wait);
      wait = Math.min(wait * 2, 5000);
    }
  }
}

async function waitFor<T>(
  probe: () => Promise<T | null>,
  until: number,
  now: () => number,
  sleep: (ms: number) => Promise<void>,
  pollMs: number,
): Promise<T | null> {
  for (;;) {
    try {
      const v = await probe();
      if (v) return v;
    } catch (err) {
      // A failed poll (an API request timed out) says nothing about the pod: poll again while there is time.
      if (now() >= until) throw err;
    }
    if (now() >= until) return null;
    await sleep(pollMs);
  }
}
