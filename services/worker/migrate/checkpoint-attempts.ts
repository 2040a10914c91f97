import type { V1Pod } from '@kubernetes/client-node';
import { AgentCallError } from '../agent-client.js';
import { nextCheckpointTry, retryableCheckpointFailure } from '../checkpoint-retry.js';
import { budgetFor } from './budget.js';
import type { Run } from './context.js';

/** How long a 409 (a checkpoint of the pod already running) is waited out before the agent is asked again. */
const CONFLICT_RECHECK_MS = 5000;

/**
 * Calls the source agent's checkpoint until its manifest is stored, within
 * the budget. One checkpoint per container at a time holds throughout: the
 * agent answers 409 while one runs, and that one's manifest is waited for
 * (a worker killed during the call left it running, or a reset connection
 * hid that it started); the agent is asked again only once it has ended.
 * A failure that may pass (services/worker/checkpoint-retry.ts) is retried
 * with backoff while a whole checkpoint still fits before `checkpointBy`;
 * anything else, or no time left, is thrown and the caller falls back.
 * Resolves with the call's answer, or undefined when the manifest was found
 * stored without one (the answer was lost).
 */
export async function askUntilStored<T>(
  run: Run,
  original: V1Pod,
  checkpointBy: number,
  call: (signal: AbortSignal) => Promise<T>,
): Promise<T | undefined> {
  const { d } = run;
  let failures = 0;
  let firstFailureAt = 0;
  for (;;) {
    try {
      return await call(AbortSignal.timeout(Math.max(1, checkpointBy - run.now())));
    } catch (err) {
      if (err instanceof AgentCallError && err.code === 'conflict') {
        run.log.info('a checkpoint of this pod is already running on its agent; waiting for its manifest');
        if (await storedWithin(run, Math.min(checkpointBy, run.now() + CONFLICT_RECHECK_MS)))
          return undefined;
        if (run.now() >= checkpointBy) throw err;
      } else {
        if (!retryableCheckpointFailure(err)) throw err;
        failures++;
        firstFailureAt ||= run.now();
        // The call may have reached the agent and stored the checkpoint before its answer was lost.
        if (await stored(run)) return undefined;
        const next = nextCheckpointTry({
          failures,
          now: run.now(),
          firstFailureAt,
          checkpointBy,
          neededMs: Math.ceil(budgetFor(run, original).estimateMs * Math.max(1, d.config.safetyFactor)),
          maxRetryMs: d.config.checkpointRetrySeconds * 1000,
        });
        if ('giveUp' in next) {
          run.log.warn({ err: (err as Error).message, failures }, `checkpoint not retried: ${next.giveUp}`);
          throw err;
        }
        run.log.warn(
          { err: (err as Error).message, failures, retryInMs: next.retryInMs },
          'checkpoint call failed; retrying',
        );
        await run.sleep(next.retryInMs);
      }
      // Another job may have taken the pod over meanwhile: it is not frozen again from here.
      await run.lease?.assertHeld();
    }
  }
}

/** Whether the manifest is there; an S3 that does not answer (the outage being retried) counts as not yet. */
async function stored(run: Run): Promise<boolean> {
  try {
    return (await run.d.manifests.read(run.d.config.s3Bucket, run.manifestKey)) !== null;
  } catch (err) {
    run.log.warn({ err: (err as Error).message }, 'could not read the manifest');
    return false;
  }
}

async function storedWithin(run: Run, until: number): Promise<boolean> {
  for (;;) {
    if (await stored(run)) return true;
    if (run.now() >= until) return false;
    await run.sleep(Math.min(run.pollMs, Math.max(1, until - run.now())));
  }
}
