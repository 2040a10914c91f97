import { ReplyError } from 'ioredis';
import { TimeoutError } from '../common/timeout.js';
import type { ResolvedNode } from './cluster-cache.js';

/**
 * Why a dedupe claim gave no answer: Redis did not answer in time; the
 * client had no connection to send it on (Redis down, a failover under way,
 * the address unreachable: ioredis gives up after its retry); or Redis
 * answered with an error (READONLY from a demoted primary, LOADING after a
 * restart, OOM). Only the wording of the log and the Node Event depends on it.
 */
export type ClaimFailureCause = 'timeout' | 'no-connection' | 'error-reply';

export function claimFailureCause(err: unknown): ClaimFailureCause {
  if (err instanceof TimeoutError) return 'timeout';
  if (err instanceof ReplyError) return 'error-reply';
  return 'no-connection';
}

const CAUSE_WORDS: Record<ClaimFailureCause, string> = {
  timeout: 'Redis did not answer in time',
  'no-connection': 'Redis is unreachable',
  'error-reply': 'Redis answered with an error',
};

export const describeClaimFailure = (cause: ClaimFailureCause): string => CAUSE_WORDS[cause];

/** What came of a cordon without Redis, counted: the patch applied, not needed (already so), or failed. */
export const CORDON_WITHOUT_REDIS_RESULTS = ['patched', 'unchanged', 'failed'] as const;
export type CordonWithoutRedisResult = (typeof CORDON_WITHOUT_REDIS_RESULTS)[number];

export type WithoutRedis =
  | { action: 'cordon'; node: ResolvedNode }
  | { action: 'none'; why: 'not-ours' | 'cache-not-synced' };

/**
 * What the listener does for a node whose dedupe claim failed, while the
 * message waits in SQS for Redis: taint and cordon it, as a plain drain
 * would at once, so that nothing new lands on an instance about to die.
 *
 * Every failure counts, not only some causes: none of them says another
 * replica has the node (that is the claim's 'busy', and 'done' means it was
 * handled, cordon included), and the cordon is what handling the event does
 * first whatever its response, so doing it early can only be what would have
 * happened. It needs no claim: the patch is idempotent and its JSON `test`
 * makes two replicas doing it at once harmless.
 *
 * Only for a node the cache resolves, as the rescue itself acts (the
 * instance-to-node mapping does not change, so a cache still syncing is
 * right about a node it holds, and a node since deleted only fails the
 * patch). An instance it does not hold is not cordoned: with a synced cache
 * it is not ours; with one still syncing the retry resolves it again.
 */
export function cordonWithoutRedis(resolved: ResolvedNode | undefined, cacheSynced: boolean): WithoutRedis {
  if (resolved) return { action: 'cordon', node: resolved };
  return { action: 'none', why: cacheSynced ? 'not-ours' : 'cache-not-synced' };
}
