import type { V1Pod } from '@kubernetes/client-node';

/**
 * Who may restore a pod as which ServiceAccount. A restored copy runs under
 * the original's ServiceAccount, and the admission policy, which sees only
 * the new pod, cannot tell an original's ServiceAccount from one a
 * compromised worker picked. So, like `bind` and `escalate` on roles, a
 * custom verb on the ServiceAccount says which ones this worker
 * may create pods as; namespace owners grant it with RBAC, the policy checks
 * it with its authorizer, and the worker asks first so that it never
 * freezes a pod whose copy would be refused.
 */
export const RESTORE_AS_VERB = 'restore-as';

/** The ServiceAccount a pod runs as: the API server's default when it names none. */
export function serviceAccountOf(pod: V1Pod): string {
  return pod.spec?.serviceAccountName || pod.spec?.serviceAccount || 'default';
}

/** The answer of an access review of restore-as on one ServiceAccount. */
export interface RestoreAsAnswer {
  allowed: boolean;
  /** The authorizer's reason or evaluation error, when it gives one. */
  reason?: string;
}

/** Why the pod cannot be restored as its ServiceAccount, or null when it can. */
export function restoreAsRefusal(pod: V1Pod, answer: RestoreAsAnswer): string | null {
  if (answer.allowed) return null;
  const sa = `${pod.metadata?.namespace ?? ''}/${serviceAccountOf(pod)}`;
  const why = answer.reason ? ` (${answer.reason})` : '';
  return (
    `the worker is not granted ${RESTORE_AS_VERB} on ServiceAccount ${sa}${why}: ` +
    'its restored copy would be refused by the admission policy, so the pod is drained without a checkpoint ' +
    '(grant it with restoreServiceAccounts in the chart or a RoleBinding in the namespace)'
  );
}
