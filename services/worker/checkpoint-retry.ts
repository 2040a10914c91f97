import { AgentCallError } from './agent-client.js';

/**
 * When a failed checkpoint call is worth another try. An agent restarting
 * (its DaemonSet pod crashed) or a short S3 outage would otherwise drain
 * every pod in flight at once with most of the two minutes still left.
 */

/**
 * Failures a later call may get past: the agent not reachable (refused,
 * reset), an S3 error it surfaced, or any other 5xx but the deadline it
 * reports (that deadline is the worker's own cut-off: nothing is left to
 * retry in). A 409 is not a failure of this kind: another checkpoint of the
 * pod is running and its manifest is waited for instead.
 */
export function retryableCheckpointFailure(err: unknown): boolean {
  if (!(err instanceof AgentCallError)) return false;
  if (err.code === 'deadline-exceeded' || err.code === 'aborted' || err.code === 'conflict') return false;
  return err.code === 'unreachable' || err.code === 'storage-failed' || (err.status ?? 0) >= 500;
}

export interface CheckpointRetryInput {
  /** Failed calls so far (1 after the first). */
  failures: number;
  /** Epoch ms. */
  now: number;
  /** Epoch ms the first call failed. */
  firstFailureAt: number;
  /** Epoch ms by which the checkpoint must be stored (the budget's cut-off). */
  checkpointBy: number;
  /** What one checkpoint is expected to take, safety factor included. */
  neededMs: number;
  /** The longest a checkpoint is retried after its first failure. */
  maxRetryMs: number;
  /** The first wait; each next one doubles, up to maxDelayMs. */
  baseDelayMs?: number;
  maxDelayMs?: number;
}

export type CheckpointRetry = { retryInMs: number } | { giveUp: string };

const BASE_DELAY_MS = 500;
const MAX_DELAY_MS = 4000;

/**
 * Wait and try again while a whole checkpoint still fits before the cut-off
 * after the wait (which leaves the fallback's drain its time, as the first
 * try did) and the retry window is not used up; else give up, and the
 * caller falls back as it would have.
 */
export function nextCheckpointTry(i: CheckpointRetryInput): CheckpointRetry {
  const base = i.baseDelayMs ?? BASE_DELAY_MS;
  const delay = Math.min(i.maxDelayMs ?? MAX_DELAY_MS, base * 2 ** Math.max(0, i.failures - 1));
  const at = i.now + delay;
  if (at - i.firstFailureAt > i.maxRetryMs)
    return { giveUp: `still failing after ${Math.round((i.now - i.firstFailureAt) / 1000)} s of retries` };
  if (at + i.neededMs > i.checkpointBy)
    return {
      giveUp: `no time for another checkpoint (~${i.neededMs} ms) before the cut-off in ${Math.max(0, i.checkpointBy - i.now)} ms`,
    };
  return { retryInMs: delay };
}
