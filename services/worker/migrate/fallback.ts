import type { V1Pod } from '@kubernetes/client-node';
import { fallbackGraceSeconds } from '../budget.js';
import { drainPod } from '../drain.js';
import { controllerOf, isRunning, isStaged, replaceStrategy } from '../restored-pod.js';
import type { MigrateResult, Run } from './context.js';
import { LeaseLost } from './lease.js';
import { findRestored } from './resume.js';

const RELEASE_TIMEOUT_MS = 10_000;
/** On a bare pod created again from its spec after a failed swap: the uid of the pod it replaces. */
export const RECREATED_FROM_ANNOTATION = 'spot-rescue.io/recreated-from';

/** Stops a drain or delete this job no longer owns; in the last resort only a lease known lost does. */
async function fence(run: Run): Promise<void> {
  try {
    await run.lease?.assertHeld();
  } catch (err) {
    if (err instanceof LeaseLost || !run.lastResort) throw err;
    run.log.warn({ err: (err as Error).message }, 'lease not checkable; draining anyway');
  }
}

async function noteFallingBack(run: Run, reason: string): Promise<void> {
  if (run.progress.fallingBack !== undefined) return;
  try {
    await run.save({ fallingBack: reason });
  } catch (err) {
    if (!run.lastResort) throw err;
  }
}

/**
 * Thaws the original if a checkpoint of it was asked for: a frozen pod
 * cannot run its SIGTERM handler when evicted, and on a node that is not
 * dying (rebalance, scale-in, maintenance) it would stay frozen and Ready
 * for good. The agent's release is idempotent; an agent that cannot be
 * reached (its node is gone) is logged and passed over.
 */
export async function releaseOriginal(run: Run): Promise<void> {
  if (!run.progress.checkpointRequested) return;
  const base = run.progress.original;
  const containers = (base?.spec?.containers ?? []).map((c) => c.name);
  if (containers.length === 0) return;
  try {
    const r = await run.d.agents.release(
      run.job.node.name,
      {
        namespace: run.namespace,
        pod: run.name,
        podUid: run.uid,
        containers,
        checkpointId: run.checkpointId,
      },
      AbortSignal.timeout(RELEASE_TIMEOUT_MS),
    );
    if (r.thawed.length > 0) run.log.info({ thawed: r.thawed }, 'original released (thawed)');
  } catch (err) {
    run.log.warn({ err: (err as Error).message }, 'could not release the original on its agent');
  }
}

/**
 * A restored copy that never became a member of its controller, or never
 * ran, is removed; one that runs as a member stays. A same-name copy that
 * never ran would hold the name (a StatefulSet's ordinal) for good: without
 * it the controller creates the pod again.
 */
export async function removeLeftover(run: Run): Promise<void> {
  const { d } = run;
  const leftover = await findRestored(d.cluster, run.namespace, run.uid);
  if (!leftover || (!isStaged(leftover) && isRunning(leftover))) return;
  await fence(run);
  await d.cluster.deletePod(run.namespace, leftover.metadata?.name ?? '', leftover.metadata?.uid ?? '', 0);
}

/**
 * A bare pod has no controller to create it again: if the swap removed the
 * original and its copy did not make it, the pod is created anew from its
 * saved spec (as it was, scheduled anywhere), which is what a drain followed
 * by a re-apply would give; nothing is lost.
 */
async function recreateBarePod(run: Run): Promise<boolean> {
  const base = run.progress.original;
  if (!base || controllerOf(base) || !removedForTheSwap(run)) return false;
  if (await run.d.cluster.getPod(run.namespace, run.name)) return false;
  const fresh: V1Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: run.name,
      namespace: run.namespace,
      labels: base.metadata?.labels,
      annotations: { ...base.metadata?.annotations, [RECREATED_FROM_ANNOTATION]: run.uid },
      finalizers: base.metadata?.finalizers,
    },
    spec: { ...structuredClone(base.spec ?? { containers: [] }), nodeName: undefined },
  };
  delete fresh.spec?.priority;
  delete fresh.spec?.preemptionPolicy;
  await run.d.cluster.createPod(fresh);
  return true;
}

/**
 * Whether the original is gone because this migration removed it to give its
 * name to the copy (the swap runs once the restore is done), rather than
 * because its owner deleted it.
 */
function removedForTheSwap(run: Run): boolean {
  const base = run.progress.original;
  return (
    base !== undefined &&
    replaceStrategy(base) === 'same-name' &&
    (run.progress.stage === 'restored' || run.progress.stage === 'created')
  );
}

/** Drains the original the way a plain drain would (PDBs honoured until the deadline forces it). */
export async function evictOriginal(run: Run, reason: string): Promise<MigrateResult> {
  const { d } = run;
  await noteFallingBack(run, reason);
  await releaseOriginal(run);
  await d.reservations.release(run.holder);
  const pod = await d.cluster.getPod(run.namespace, run.name);
  if (!pod || pod.metadata?.uid !== run.uid) {
    await fence(run);
    if (await recreateBarePod(run))
      return run.finish({ outcome: 'evicted', reason: `${reason}; created again from its spec` });
    // Removed through the Eviction API for the swap: drained, and its controller creates it again.
    if (removedForTheSwap(run))
      return run.finish({ outcome: 'evicted', reason: `${reason}; its controller creates it again` });
    return run.finish({ outcome: 'gone', reason });
  }
  await fence(run);
  await run.event(pod, 'Warning', 'RescueFellBackToEviction', reason);
  const grace = fallbackGraceSeconds({
    now: run.now(),
    deadline: run.deadline,
    gracePeriodSeconds: Math.min(
      pod.spec?.terminationGracePeriodSeconds ?? 30,
      d.config.maxFallbackGraceSeconds,
    ),
    evictionLeadMs: d.config.evictionLeadMs,
  });
  const r = await drainPod(d.cluster, pod, {
    deadline: run.deadline,
    gracePeriodSeconds: grace,
    leadMs: d.config.evictionLeadMs,
    now: run.now,
    sleep: run.sleep,
  });
  return run.finish({ outcome: r === 'gone' ? 'gone' : 'evicted', reason });
}

/** The migration failed part-way: its copy goes if it never took over, then the original is drained. */
export async function fallBack(run: Run, reason: string): Promise<MigrateResult> {
  run.log.warn({ reason }, 'migration failed, falling back');
  await noteFallingBack(run, reason);
  await releaseOriginal(run);
  await removeLeftover(run);
  return evictOriginal(run, reason);
}

/**
 * The job's last attempt threw (the API, Redis or the fallback itself
 * failed): each cleanup step is tried on its own, and the job still ends
 * with an outcome: `evicted` if the drain got through, else `failed`, which
 * feeds the failed-rescues metric and alarm.
 */
export async function lastResort(run: Run, err: unknown): Promise<MigrateResult> {
  const reason = `migration failed: ${(err as Error).message}`;
  run.log.error(
    { err: (err as Error).message },
    'migration failed on its last attempt; last-resort fallback',
  );
  run.lastResort = true;
  await releaseOriginal(run);
  try {
    await removeLeftover(run);
  } catch (e) {
    run.log.warn({ err: (e as Error).message }, 'could not remove the restored copy');
  }
  try {
    return await evictOriginal(run, reason);
  } catch (e) {
    return run.finish({
      outcome: 'failed',
      reason: `${reason}; the fallback drain failed too: ${(e as Error).message}`,
    });
  }
}
