import type { V1Pod } from '@kubernetes/client-node';
import type { ArchiveDigest, CheckpointRequest, CheckpointStatus } from '../../common/agent-api.js';
import { checkpointMemoryEstimate } from '../../common/pod-memory.js';
import { AgentCallError } from '../agent-client.js';
import { mibPerSec } from '../budget.js';
import type { Run } from './context.js';

/** The agent answers an admission at once; this bounds a call that does not. */
const ADMISSION_ANSWER_MS = 15_000;
/** The agent ends a checkpoint at its cut-off itself; its answer (rolled back, thawed) may take this long after. */
const CUTOFF_ANSWER_MS = 10_000;
/** One status read waits on the agent at most this long for the checkpoint to end. */
const STATUS_WAIT_SECONDS = 20;

/** What the agent is told about the pod, so it can judge whether the archive will be stored in time. */
export function admissionFields(
  run: Run,
  original: V1Pod,
): Pick<CheckpointRequest, 'memoryBytes' | 'podStartedAt'> {
  const startedAt = original.status?.startTime;
  const started = startedAt === undefined ? Number.NaN : new Date(startedAt).getTime();
  return {
    memoryBytes: checkpointMemoryEstimate(original, run.d.config.defaultMemoryMiB * 2 ** 20),
    ...(Number.isFinite(started) ? { podStartedAt: new Date(started).toISOString() } : {}),
  };
}

/**
 * Asks the source agent for a checkpoint and waits for its end. The agent
 * answers at once: refused (would-miss-deadline, thrown as the agent's error,
 * so the pod is drained now with its full grace) or accepted with an
 * estimate. The wait is then never a fixed HTTP timeout: it follows the
 * agent's latest estimate plus a margin, and never goes past the cut-off,
 * where the agent ends the checkpoint itself and says so. Throws on any
 * end but stored; the caller falls back.
 */
export async function checkpointAdmitted(
  run: Run,
  req: CheckpointRequest,
  cutoff: number,
  onAccepted?: (status: CheckpointStatus) => Promise<void>,
): Promise<ArchiveDigest[] | undefined> {
  const { d, job } = run;
  const node = job.node.name;
  let status: CheckpointStatus;
  try {
    status = await d.agents.startCheckpoint(node, req, AbortSignal.timeout(ADMISSION_ANSWER_MS));
  } catch (err) {
    throw refusedBy(node, err);
  }
  d.agentRates.observe(node, status.throughput);
  run.log.info(
    {
      checkpointId: req.checkpointId,
      state: status.state,
      estimatedStoredAt: status.estimatedStoredAt,
      agentRate:
        status.throughput && `${mibPerSec(status.throughput.bytesPerSec)} MiB/s ${status.throughput.basis}`,
    },
    'checkpoint accepted by the source agent',
  );
  await onAccepted?.(status);
  for (;;) {
    if (status.state === 'stored') return status.archives;
    if (status.state === 'failed') {
      const e = status.error;
      throw refusedBy(
        node,
        new AgentCallError(e?.error ?? 'runtime-failed', `agent on ${node}: ${e?.message ?? 'failed'}`),
      );
    }
    const giveUpAt = waitUntil(status, cutoff, d.config.checkpointEstimateMarginSeconds * 1000);
    const left = giveUpAt - run.now();
    if (left <= 0) {
      throw new AgentCallError(
        'deadline-exceeded',
        `agent on ${node}: checkpoint still ${status.state} ${d.config.checkpointEstimateMarginSeconds} s past its estimate (${status.estimatedStoredAt ?? 'none'})`,
      );
    }
    const waitSeconds = Math.max(1, Math.min(STATUS_WAIT_SECONDS, Math.ceil(left / 1000)));
    status = await d.agents.checkpointStatus(
      node,
      req.checkpointId,
      waitSeconds,
      AbortSignal.timeout(waitSeconds * 1000 + ADMISSION_ANSWER_MS),
    );
    // The answer that says stored comes after the agent took this checkpoint's timing in.
    d.agentRates.observe(node, status.throughput);
  }
}

/**
 * A would-miss-deadline answer (refused at once, or dropped from the queue
 * later) in the words the pod's eviction reason and the worker log carry:
 * "refused by <node>'s agent: needs ~N s at R MiB/s measured, X s left: ...",
 * the agent's own figures, so that whoever reads `kubectl describe pod` sees
 * whether a slow node or a wrong assumption drained it. Other errors pass.
 */
export function refusedBy(node: string, err: unknown): unknown {
  if (!(err instanceof AgentCallError) || err.code !== 'would-miss-deadline') return err;
  const said = err.message.replace(`agent on ${node}: `, '');
  return new AgentCallError(err.code, `refused by ${node}'s agent: ${said}`, err.status);
}

/** The latest estimate plus the margin, within the agent's own answer after the cut-off. */
export function waitUntil(status: CheckpointStatus, cutoff: number, marginMs: number): number {
  const last = cutoff + CUTOFF_ANSWER_MS;
  if (!status.estimatedStoredAt) return last;
  return Math.min(last, Date.parse(status.estimatedStoredAt) + marginMs);
}
