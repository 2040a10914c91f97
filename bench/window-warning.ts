/**
 * The clocks of the window benchmark's Spot warnings. AWS issues a warning
 * two minutes before it reclaims the instance (the event's `time` + 120 s,
 * which is how the listener computes the deadline); EventBridge and SQS
 * deliver it best effort, sometimes late, and everything the pipeline does
 * starts only at delivery. `--delivered-late S` sends the events S seconds
 * after their `time`, so the pipeline has S seconds less of the same
 * deadline: the benchmark then reads every figure against the clock it
 * belongs to, the instance's real deadline or the moment of delivery.
 */

/** AWS reclaims a Spot instance this long after the warning's own timestamp. */
export const SPOT_WARNING_SECONDS = 120;

export interface WarningTimes {
  /** Epoch ms AWS issued the warning: the event's `time`, whole seconds as EventBridge writes it. */
  issuedAt: number;
  /** Epoch ms the benchmark puts the events on the queue: `lateSeconds` after `issuedAt`. */
  deliveredAt: number;
  /** Epoch ms the instances are reclaimed: `issuedAt` + 120 s, as the listener reads it. */
  deadline: number;
  lateSeconds: number;
}

/**
 * The warning's times for a delivery no earlier than `notBefore`. The
 * event's `time` carries whole seconds only (infra/sim/events.ts), so the
 * issue time is a whole second and the delivery is waited for until exactly
 * `lateSeconds` after it; otherwise the listener's deadline would be up to
 * a second earlier than the one the figures are read against.
 */
export function warningTimes(notBefore: number, lateSeconds: number): WarningTimes {
  const issuedAt = Math.ceil((notBefore - lateSeconds * 1000) / 1000) * 1000;
  return {
    issuedAt,
    deliveredAt: issuedAt + lateSeconds * 1000,
    deadline: issuedAt + SPOT_WARNING_SECONDS * 1000,
    lateSeconds,
  };
}

/**
 * Seconds from the delivery to the worker's cut-off (`cutoffSeconds` after
 * the warning was issued): the window the pipeline really has to store
 * archives in. Throws when the warning arrives with no window left, where
 * every pod would be drained and there is nothing to measure.
 */
export function pipelineWindowSeconds(cutoffSeconds: number, lateSeconds: number): number {
  if (!(lateSeconds >= 0) || lateSeconds >= cutoffSeconds)
    throw new Error(
      `--delivered-late must be at least 0 and under the ${cutoffSeconds} s from the warning to the worker's cut-off (got ${lateSeconds})`,
    );
  return cutoffSeconds - lateSeconds;
}
