import type { V1Pod } from '@kubernetes/client-node';
import { statusOf } from '../../common/kube.js';
import type { Cluster } from '../cluster.js';
import { drainPod } from '../drain.js';
import {
  adoptionPatch,
  controllerOf,
  DELETION_COST_ANNOTATION,
  isStaged,
  LOWEST_DELETION_COST,
  outrankingDeletionCost,
  RESTORED_FROM_LABEL,
  replaceStrategy,
} from '../restored-pod.js';
import type { Run } from './context.js';
import { swapOrder } from './swap-order.js';
import { originalNow, TakenOver } from './taken-over.js';

/** Creates the restored pod the way its strategy (restored-pod.ts) replaces the original. */
export function creator(run: Run, base: V1Pod, desired: V1Pod): () => Promise<V1Pod> {
  const { d } = run;
  return replaceStrategy(base) === 'same-name'
    ? async () => {
        await run.lease?.assertHeld();
        await removeOriginalAsADrainWould(run, await claimOriginalForTheSwap(run, true));
        return replaceUnderSameName(d.cluster, desired, run.uid);
      }
    : () => createOrGet(d.cluster, desired, run.uid);
}

/**
 * Before this migration removes the original for the swap: the original
 * must still be there, or someone else removed it and its controller has
 * (or will have) a replacement that the copy must not displace
 * (taken-over.ts). Marked once in the progress, so a retry or a copy
 * created again knows the original is gone by its own hand. Returns the
 * original as read for it (null: gone or going), the one read the swap
 * acts on.
 */
async function claimOriginalForTheSwap(run: Run, sameName: boolean): Promise<V1Pod | null> {
  const now = await originalNow(run);
  const original = 'pod' in now ? now.pod : null;
  if (run.progress.originalRemoved) return original;
  // A copy already created under the name: the original went for it (a job saved before the mark existed).
  if (sameName && run.progress.stage === 'created') return original;
  if ('takenOver' in now) throw new TakenOver(`${now.takenOver}, before the swap`);
  await run.save({ originalRemoved: true });
  return original;
}

/**
 * The name is the identity, so the original has to go before its copy can
 * exist: through the Eviction API, so a PodDisruptionBudget holds the swap
 * back as it would hold a drain, until only the deadline is left.
 * `original`: as claimOriginalForTheSwap read it, under its uid.
 */
async function removeOriginalAsADrainWould(run: Run, original: V1Pod | null): Promise<void> {
  if (!original || original.metadata?.deletionTimestamp) return;
  await drainPod(run.d.cluster, original, {
    deadline: run.deadline,
    gracePeriodSeconds: 0,
    leadMs: run.d.config.evictionLeadMs,
    now: run.now,
    sleep: run.sleep,
  });
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
 * A staged copy that runs becomes its controller's member and the original
 * goes, in the order that keeps the copy when the controller, counting one
 * pod too many for a moment, removes one (swap-order.ts):
 * - copy first: the original gets the lowest deletion cost, the copy is
 *   adopted, and the original is deleted. A ReplicaSet that acts in between
 *   removes the original. No pod goes missing from the count, so no fresh
 *   pod is started.
 * - original first (a Job's; a ReplicaSet's copy not Ready yet, a readiness
 *   gate still open, beside a Ready original, which the ReplicaSet would
 *   keep whatever the costs): the original goes through the Eviction API,
 *   as a drain's would, so a PodDisruptionBudget holds it back as it holds
 *   a drain, and a Job whose podFailurePolicy ignores disruptions (the pod
 *   gets the DisruptionTarget condition) does not spend its backoffLimit on
 *   the move; then the copy is adopted. A Job controller counts the
 *   original failed and waits out its backoff (10 s) before starting
 *   another, long after the adoption. A ReplicaSet may start a fresh pod at
 *   once; that pod is unassigned or Pending when the copy joins, and ranks
 *   below it; should both be running and not Ready, the copy's deletion
 *   cost (above the original's, which the fresh pod shares) keeps it. The
 *   cost is for this count only: once the copy has stayed through the
 *   settle time it gets the original's own back (kept.ts returnDeletionCost).
 * The original is marked removed in the progress before either removal
 * (claimOriginalForTheSwap), so an attempt that dies between the removal
 * and the adoption is taken up by the next, which finds the original gone
 * by its own hand and adopts the copy.
 * An original someone else removed first is not swapped at all: its
 * controller already runs a replacement (taken-over.ts).
 */
export async function adopt(run: Run, base: V1Pod, created: V1Pod): Promise<V1Pod> {
  if (!isStaged(created)) return created;
  const { d, namespace, name, uid } = run;
  await run.lease?.assertHeld();
  const original = await claimOriginalForTheSwap(run, false);
  const kind = controllerOf(base)?.kind;
  const order = swapOrder(kind, created, original);
  run.log.info({ restoredPod: created.metadata?.name, order }, 'swapping the restored pod in');
  if (order === 'original-first') await removeOriginalAsADrainWould(run, original);
  else {
    await d.cluster.patchPod(namespace, name, {
      metadata: { annotations: { [DELETION_COST_ANNOTATION]: LOWEST_DELETION_COST } },
    });
  }
  // A Job ignores the cost; a copy adopted beside its original outranks it without one.
  const cost =
    order === 'original-first' && kind !== 'Job'
      ? outrankingDeletionCost(run.progress.original ?? base)
      : undefined;
  const adopted = await d.cluster.patchPod(
    namespace,
    created.metadata?.name ?? '',
    adoptionPatch(created, cost),
  );
  if (order === 'copy-first') await d.cluster.deletePod(namespace, name, uid, 0);
  return adopted;
}
