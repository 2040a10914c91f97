/**
 * How a pod's job ended, one word each wherever it is told (the job's
 * result, the Prometheus outcome label, the EMF Outcome dimension):
 * `restored` (running on another node with its memory), `evicted` (drained),
 * `failed`, `gone` (the pod was gone before anything was done) and
 * `duplicate` (another job was migrating the same pod and this one touched
 * nothing).
 */
export const POD_OUTCOMES = ['restored', 'evicted', 'failed', 'gone', 'duplicate'] as const;
export type PodOutcome = (typeof POD_OUTCOMES)[number];

/** The outcomes that end a rescue; `gone` and `duplicate` rescued nothing and are not counted as one. */
export const RESCUE_OUTCOMES = ['restored', 'evicted', 'failed'] as const satisfies readonly PodOutcome[];
export type RescueOutcomeKind = (typeof RESCUE_OUTCOMES)[number];

export function isRescueOutcome(outcome: PodOutcome): outcome is RescueOutcomeKind {
  return (RESCUE_OUTCOMES as readonly PodOutcome[]).includes(outcome);
}
