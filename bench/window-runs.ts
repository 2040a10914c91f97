/**
 * Several bursts of one `npm run bench:window -- --runs N` side by side,
 * and the targets (#17) checked against each: at or below 0.8x
 * capacity every pod restored with a p99 margin above 60 s; at 2x or more
 * at least 95 % of the oracle, none lost, and every drained pod decided
 * within 10 s of its warning's delivery.
 */

/** What the summary reads of one run (a subset of window.ts's result). */
export interface RunFigures {
  offeredLoad: number;
  pods: number;
  oracle: number;
  restoredBeforeDeadline: number;
  lost: number;
  /** Seconds before the instance's deadline; NaN when nothing was stored. */
  marginSeconds: { p50: number; p99: number; min: number };
  /** Seconds after the warning's delivery each drained pod was decided. */
  drainedDecidedAfterDelivery: number[];
}

export type TargetName = 'within capacity' | 'overload';

/** Which of the targets a load is held to; none between 0.8x and 2x. */
export function targetFor(load: number): TargetName | undefined {
  if (load <= 0.8) return 'within capacity';
  if (load >= 2) return 'overload';
  return undefined;
}

/** Why a run misses its target; empty when it meets it. */
export function targetMisses(target: TargetName, r: RunFigures): string[] {
  const misses: string[] = [];
  if (target === 'within capacity') {
    if (r.restoredBeforeDeadline < r.pods)
      misses.push(`${r.restoredBeforeDeadline} of ${r.pods} restored before the deadline, not all`);
    if (!(r.marginSeconds.p99 > 60))
      misses.push(`p99 margin ${r.marginSeconds.p99.toFixed(1)} s, not above 60 s`);
    return misses;
  }
  if (!(r.oracle > 0 && r.restoredBeforeDeadline / r.oracle >= 0.95))
    misses.push(`${r.restoredBeforeDeadline} restored of an oracle of ${r.oracle}, under 95 %`);
  if (r.lost > 0) misses.push(`${r.lost} lost`);
  const late = r.drainedDecidedAfterDelivery.filter((s) => s > 10);
  if (late.length)
    misses.push(
      `${late.length} drained pod(s) decided more than 10 s after delivery (max ${Math.max(...late).toFixed(1)} s)`,
    );
  return misses;
}

export interface RunsSummary {
  runs: number;
  target?: TargetName;
  /** Per run: restored before the deadline / oracle (NaN with an oracle of 0). */
  restoredOverOracle: number[];
  offeredLoad: { min: number; max: number };
  /** Over the runs' p99 margins: the worst run's and the best run's. */
  p99MarginSeconds: { min: number; max: number };
  /** The least time left by any stored archive of any run. */
  minMarginSeconds: number;
  /** Per run, why it missed the target (empty: met). */
  misses: string[][];
  runsMeetingTarget: number;
}

export function summarizeRuns(runs: RunFigures[], target: TargetName | undefined): RunsSummary {
  const range = (xs: number[]) =>
    xs.length ? { min: Math.min(...xs), max: Math.max(...xs) } : { min: Number.NaN, max: Number.NaN };
  const misses = runs.map((r) => (target ? targetMisses(target, r) : []));
  const stored = runs.map((r) => r.marginSeconds.min).filter((m) => !Number.isNaN(m));
  return {
    runs: runs.length,
    ...(target ? { target } : {}),
    restoredOverOracle: runs.map((r) => (r.oracle > 0 ? r.restoredBeforeDeadline / r.oracle : Number.NaN)),
    offeredLoad: range(runs.map((r) => r.offeredLoad)),
    p99MarginSeconds: range(runs.map((r) => r.marginSeconds.p99).filter((m) => !Number.isNaN(m))),
    minMarginSeconds: stored.length ? Math.min(...stored) : Number.NaN,
    misses,
    runsMeetingTarget: target ? misses.filter((m) => m.length === 0).length : 0,
  };
}
