import type { V1Pod } from '@kubernetes/client-node';

/**
 * Which pod a staged swap takes out of its controller's count first:
 * `copy-first` adopts the copy while the original still counts (the
 * original made the lowest-cost pod, then deleted), `original-first`
 * removes the original as a drain would and adopts the copy after.
 */
export type SwapOrder = 'copy-first' | 'original-first';

/**
 * The order that keeps the copy when its controller, counting one pod too
 * many, removes one. A ReplicaSet picks by kubernetes' ActivePodsWithRanks
 * (pkg/controller/controller_utils.go): unassigned, then Pending, then not
 * Ready go before the pod-deletion cost is even read. A copy that runs but
 * is not Ready (a readiness gate still open, such as the AWS Load Balancer
 * Controller's target health, which cannot pass before the copy has the
 * labels its Service selects) ranks below a Ready original whatever their
 * costs, so the original has to go first; a Ready copy (or an original not
 * Ready either) is ranked by the cost, and the original, made the cheapest,
 * goes. A Job controller ignores the cost and removes the newer pod, the
 * copy: its original always goes first. An original already gone (removed
 * for this swap by an attempt that did not finish) has gone first.
 * Ready is the pod's Ready condition, as the controller reads it; the
 * worker's own `isRunning` (ContainersReady) says nothing of this ranking.
 */
export function swapOrder(
  controllerKind: string | undefined,
  copy: V1Pod,
  original: V1Pod | null,
): SwapOrder {
  if (controllerKind === 'Job') return 'original-first';
  if (!original || original.metadata?.deletionTimestamp) return 'original-first';
  return isPodReady(original) && !isPodReady(copy) ? 'original-first' : 'copy-first';
}

/** Kubernetes' IsPodReady: the Ready condition is True. */
export function isPodReady(pod: V1Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}
