import type { V1Pod } from '@kubernetes/client-node';
import { DELETION_COST_ANNOTATION, deletionCostReturn } from '../restored-pod.js';
import type { Run } from './context.js';
import { nameHolding } from './readiness.js';

/**
 * Whether an adopted copy is still its controller's member: `kept` while it
 * is there under its uid and not being deleted, `removed` once it is not.
 * The adoption makes the controller count the copy, and the swap's order
 * (swap-order.ts) keeps it when the controller ranks it against the
 * original. What it cannot rule out: a replacement the controller started
 * for an original that went outside the swap, after the last check
 * (taken-over.ts), and, when the original went first, a fresh pod that was
 * Ready before the ReplicaSet acted while the copy's readiness gate was
 * still open. A controller counting one pod too many removes one, a Job
 * controller the newest, the copy. Only a kept copy is a restored pod, and
 * a kept copy has no more use for the deletion cost its swap gave it
 * (returnDeletionCost).
 */
export type CopyStanding = 'kept' | 'removed';

export function copyStanding(named: V1Pod | null, copyUid: string | undefined): CopyStanding {
  return nameHolding(named, copyUid) === 'held' ? 'kept' : 'removed';
}

/**
 * Waits the settle time after the adoption, for the controller to have
 * acted on its new member; false as soon as the copy is removed. A poll
 * that fails says nothing; past the restore deadline, a copy last seen
 * kept counts as kept.
 */
export async function keptByController(run: Run, copy: V1Pod): Promise<boolean> {
  const settleMs = run.d.config.restoredSettleSeconds * 1000;
  const since = run.now();
  let seen = false;
  for (;;) {
    let named: V1Pod | null | undefined;
    try {
      named = await run.d.cluster.getPod(run.namespace, copy.metadata?.name ?? '');
    } catch {
      named = undefined;
    }
    if (named !== undefined) {
      if (copyStanding(named, copy.metadata?.uid) === 'removed') return false;
      seen = true;
    }
    if (seen && run.now() - since >= settleMs) return true;
    if (run.now() >= run.restoreDeadline) return seen;
    await run.sleep(run.pollMs);
  }
}

/**
 * Gives a copy its controller kept the original's own deletion cost back
 * (restored-pod.ts deletionCostReturn), `original` as the migration first
 * saved it, which is what the swap ranked the copy against. A patch that
 * fails is logged, not thrown: the pod is restored whatever its cost, and
 * the job ends with this verdict, so no retry would come to take it back.
 */
export async function returnDeletionCost(run: Run, copy: V1Pod, original: V1Pod): Promise<void> {
  const patch = deletionCostReturn(copy, original);
  if (!patch) return;
  const restoredPod = copy.metadata?.name ?? '';
  try {
    await run.d.cluster.patchPod(run.namespace, restoredPod, patch);
  } catch (err) {
    run.log.warn(
      {
        restoredPod,
        deletionCost: copy.metadata?.annotations?.[DELETION_COST_ANNOTATION],
        err: (err as Error).message,
      },
      'the restored pod keeps the deletion cost its swap gave it (the patch taking it back failed): ' +
        'scale-downs of its controller will remove its peers before it',
    );
  }
}
