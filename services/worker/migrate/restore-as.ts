import type { V1Pod } from '@kubernetes/client-node';
import { restoreAsRefusal, serviceAccountOf } from '../restore-as.js';
import type { Run } from './context.js';

/**
 * Why the pod's copy would be refused for its ServiceAccount, asked before
 * anything is frozen; null when it may be restored (or nobody asks: the
 * admission policy does not require the grant).
 */
export async function restoreAsRefused(run: Run, original: V1Pod): Promise<string | null> {
  const grants = run.d.restoreGrants;
  if (!grants) return null;
  const answer = await grants.check(run.namespace, serviceAccountOf(original));
  const refusal = restoreAsRefusal(original, answer);
  if (refusal) run.log.warn({ serviceAccount: serviceAccountOf(original) }, refusal);
  return refusal;
}
