import type { V1Pod } from '@kubernetes/client-node';
import type { MigrateResult, Run } from './context.js';
import { releaseOriginal, removeLeftover } from './fallback.js';
import { currentOriginal } from './resume.js';

/**
 * Whether the original is still the pod this migration replaces: `present`
 * (there under its uid, not being deleted), `removed-by-us` (this migration
 * began its removal, for the swap), or `taken-over`: someone else deleted
 * or evicted it (another drain, a user, a node that died) while the
 * migration ran, maybe during a long API stall, and its controller has
 * already started a replacement, or soon will. A copy restored then is one
 * pod too many: adopted, its controller removes the newest, the copy; under
 * the original's name, it would remove the controller's fresh pod; for a
 * bare pod, it brings back a pod someone removed.
 */
export type OriginalStanding = 'present' | 'removed-by-us' | 'taken-over';

export function originalStanding(pod: V1Pod | null, uid: string, removedByUs: boolean): OriginalStanding {
  const ours = pod !== null && pod.metadata?.uid === uid;
  if (ours && !pod.metadata?.deletionTimestamp) return 'present';
  return removedByUs ? 'removed-by-us' : 'taken-over';
}

/** The original read again now, or why the migration has no pod left to replace. */
export async function originalNow(run: Run): Promise<{ pod: V1Pod | null } | { takenOver: string }> {
  const pod = await currentOriginal(run);
  const standing = originalStanding(pod, run.uid, run.progress.originalRemoved === true);
  if (standing !== 'taken-over') return { pod };
  return {
    takenOver: pod
      ? 'the pod is being deleted by someone else: its controller replaces it'
      : 'the pod was deleted by someone else: its controller replaces it',
  };
}

/**
 * Ends a migration whose original was taken over: nothing of it is swapped
 * in. A container a checkpoint may have frozen is released, a copy that
 * never joined the controller (or never ran) is removed, and the outcome is
 * `gone`, as for a pod gone before its checkpoint.
 */
export async function endTakenOver(run: Run, reason: string): Promise<MigrateResult> {
  run.log.warn({ reason }, 'the original was removed outside the migration; nothing is restored');
  await releaseOriginal(run);
  await removeLeftover(run);
  await run.d.reservations.release(run.holder);
  return run.finish({ outcome: 'gone', reason });
}

/** Thrown by a step that found the original taken over; the migration ends with endTakenOver. */
export class TakenOver extends Error {}
