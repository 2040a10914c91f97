import type { V1Pod } from '@kubernetes/client-node';
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
 * controller the newest, the copy. Only a kept copy is a restored pod.
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
