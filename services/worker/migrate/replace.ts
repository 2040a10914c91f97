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
  RESTORED_FROM_LABEL,
  replaceStrategy,
} from '../restored-pod.js';
import type { Run } from './context.js';
import { originalNow, TakenOver } from './taken-over.js';

/** Creates the restored pod the way its strategy (restored-pod.ts) replaces the original. */
export function creator(run: Run, base: V1Pod, desired: V1Pod): () => Promise<V1Pod> {
  const { d } = run;
  return replaceStrategy(base) === 'same-name'
    ? async () => {
        await run.lease?.assertHeld();
        await claimOriginalForTheSwap(run, true);
        await removeOriginalAsADrainWould(run);
        return replaceUnderSameName(d.cluster, desired, run.uid);
      }
    : () => createOrGet(d.cluster, desired, run.uid);
}

/**
 * Before this migration removes the original for the swap: the original
 * must still be there, or someone else removed it and its controller has
 * (or will have) a replacement that the copy must not displace
 * (taken-over.ts). Marked once in the progress, so a retry or a copy
 * created again knows the original is gone by its own hand.
 */
async function claimOriginalForTheSwap(run: Run, sameName: boolean): Promise<void> {
  if (run.progress.originalRemoved) return;
  // A copy already created under the name: the original went for it (a job saved before the mark existed).
  if (sameName && run.progress.stage === 'created') return;
  const now = await originalNow(run);
  if ('takenOver' in now) throw new TakenOver(`${now.takenOver}, before the swap`);
  await run.save({ originalRemoved: true });
}

/**
 * The name is the identity, so the original has to go before its copy can
 * exist: through the Eviction API, so a PodDisruptionBudget holds the swap
 * back as it would hold a drain, until only the deadline is left.
 */
async function removeOriginalAsADrainWould(run: Run): Promise<void> {
  const pod = await run.d.cluster.getPod(run.namespace, run.name);
  if (!pod || pod.metadata?.uid !== run.uid || pod.metadata.deletionTimestamp) return;
  await drainPod(run.d.cluster, pod, {
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
 * goes. A Job controller ignores pod-deletion-cost: seeing two active pods
 * it would remove the newer one, the restored copy. So a Job's original
 * goes first; the controller counts it failed and waits out its backoff
 * (10 s) before starting another, long after the adoption below. It goes
 * through the Eviction API, as a drain's would: the pod gets the
 * DisruptionTarget condition, so a Job whose podFailurePolicy ignores
 * disruptions does not spend its backoffLimit on the move.
 * An original someone else removed first is not swapped at all: its
 * controller already runs a replacement (taken-over.ts).
 */
export async function adopt(run: Run, base: V1Pod, created: V1Pod): Promise<V1Pod> {
  if (!isStaged(created)) return created;
  const { d, namespace, name, uid } = run;
  await run.lease?.assertHeld();
  await claimOriginalForTheSwap(run, false);
  const jobOwned = controllerOf(base)?.kind === 'Job';
  if (jobOwned) await removeOriginalAsADrainWould(run);
  else {
    const orig = await d.cluster.getPod(namespace, name);
    if (orig && orig.metadata?.uid === uid) {
      await d.cluster.patchPod(namespace, name, {
        metadata: { annotations: { [DELETION_COST_ANNOTATION]: LOWEST_DELETION_COST } },
      });
    }
  }
  const adopted = await d.cluster.patchPod(namespace, created.metadata?.name ?? '', adoptionPatch(created));
  if (!jobOwned) await d.cluster.deletePod(namespace, name, uid, 0);
  return adopted;
}
