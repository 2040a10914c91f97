/** A checkpoint admitted on this node that has not started dumping yet. */
export interface WaitingCheckpoint {
  id: string;
  /** Estimated dump + upload time on this node (ms). */
  durationMs: number;
  /** Epoch ms: the archive must be stored by then (the request's deadline). */
  cutoff: number;
  /** How much work a drain of this pod would throw away (ms it has run): the tie-break. */
  workMs: number;
  /**
   * Already accepted by an earlier plan (its caller was told so). Not yet
   * accepted (the arrival being judged): taken only if it fits with the
   * admission factor's margin. See planCheckpoints for what an accepted one
   * is held to.
   */
  accepted?: boolean;
}

export interface CheckpointPlanInput {
  now: number;
  /** Checkpoints that may run at once. */
  slots: number;
  /** Epoch ms each running checkpoint is expected to end. */
  runningEnds: number[];
  waiting: WaitingCheckpoint[];
  /**
   * The margin a new checkpoint must fit with (>= 1): it is taken only if it
   * would still be stored by its cut-off were every checkpoint on the node,
   * running and waiting, this many times slower than estimated. An accepted
   * one is not dropped by a re-plan while it fits at the estimate itself, so
   * a throughput that falls by less than this factor never drops a checkpoint
   * late: the pod that would only fit by luck is refused at once and drained
   * with its full grace instead of 10 s later with less. 1: no margin.
   */
  admissionFactor?: number;
}

export interface PlannedCheckpoint {
  id: string;
  startAt: number;
  storedAt: number;
}

export interface CheckpointPlan {
  /** The checkpoints to run, in the order they take slots, each with when it is expected to be stored. */
  run: PlannedCheckpoint[];
  /** Those that cannot all be stored in time: refused, so their pods are drained now with their full grace. */
  refused: string[];
  /** Why each refused one was: where it stood in the schedule that refused it, for the message its pod carries. */
  refusals: Refusal[];
}

export interface Refusal {
  id: string;
  /** Epoch ms it would have been stored in that schedule (at or before its cut-off: it gave way to shorter ones). */
  storedAt: number;
  /** That schedule's slow-down: the admission factor when its margin refused it, else 1. */
  slower: number;
}

/**
 * The order in which waiting checkpoints take this node's slots: earliest
 * cut-off first, then shortest, then the one whose drain would lose the most
 * work. On a node all pods share one cut-off, so this is shortest first,
 * which stores the most archives before it.
 */
export function byPriority(a: WaitingCheckpoint, b: WaitingCheckpoint): number {
  return a.cutoff - b.cutoff || a.durationMs - b.durationMs || b.workMs - a.workMs || (a.id < b.id ? -1 : 1);
}

/**
 * List scheduling of `order` onto the slots, after the running checkpoints,
 * with every duration (and what is left of each running one) `slower` times
 * its estimate.
 */
function schedule(input: CheckpointPlanInput, order: WaitingCheckpoint[], slower = 1): PlannedCheckpoint[] {
  const free = input.runningEnds.map((e) => input.now + Math.max(0, e - input.now) * slower);
  while (free.length < input.slots) free.push(input.now);
  free.sort((a, b) => a - b);
  // More running than slots (a smaller limit after a restart): the waiting start after the earliest ends.
  free.splice(0, free.length - input.slots);
  return order.map((c) => {
    const startAt = free.shift() as number;
    const storedAt = startAt + c.durationMs * slower;
    const at = free.findIndex((f) => f > storedAt);
    free.splice(at === -1 ? free.length : at, 0, storedAt);
    return { id: c.id, startAt, storedAt };
  });
}

/**
 * Which waiting checkpoints to run so that the most are stored before their
 * cut-offs (Moore-Hodgson, on the node's slots): take them in priority order,
 * and whenever one would be late, drop the longest taken so far (on a tie,
 * the one that saves less work). Run again whenever a request arrives or a
 * checkpoint ends, with durations from the throughput measured so far.
 *
 * With an admission factor above 1 the plan must also hold with every
 * duration that many times longer, for every checkpoint whose margin is
 * intact: the new ones, and the accepted ones that were on time with it
 * before this plan. An accepted checkpoint whose margin a slower throughput
 * has used up is only held to its estimate, so a re-plan with no arrival
 * drops none that still fit. When only the margin fails, the longest of
 * those it holds is refused: a new arrival, or an accepted one it displaces
 * now, early in the window, as Moore-Hodgson would, rather than letting the
 * arrival eat that one's margin so that a small fall in throughput later
 * drops it late. With a factor of 1 both checks are one, and the plan is
 * Moore-Hodgson's.
 */
export function planCheckpoints(input: CheckpointPlanInput): CheckpointPlan {
  const factor = Math.max(1, input.admissionFactor ?? 1);
  const kept: WaitingCheckpoint[] = [];
  const refusals: Refusal[] = [];
  const late = (planned: PlannedCheckpoint[], i: number) =>
    (planned[i] as PlannedCheckpoint).storedAt > (kept[i] as WaitingCheckpoint).cutoff;
  const byPriorityOrder = [...input.waiting].sort(byPriority);
  // Accepted ones already late with the margin, before any arrival: held to their estimate only.
  const accepted = byPriorityOrder.filter((w) => w.accepted);
  const slowed = schedule(input, accepted, factor);
  const marginUsed = new Set(accepted.filter((w, i) => (slowed[i] as PlannedCheckpoint).storedAt > w.cutoff));
  for (const c of byPriorityOrder) {
    kept.push(c);
    for (;;) {
      let failed = schedule(input, kept);
      let slower = 1;
      let among = kept;
      if (failed.every((_, i) => !late(failed, i))) {
        if (factor === 1) break;
        failed = schedule(input, kept, factor);
        if (kept.every((k, i) => marginUsed.has(k) || !late(failed, i))) break;
        slower = factor;
        among = kept.filter((k) => !marginUsed.has(k));
      }
      const at = kept.indexOf(longest(among));
      refusals.push({
        id: (kept[at] as WaitingCheckpoint).id,
        storedAt: (failed[at] as PlannedCheckpoint).storedAt,
        slower,
      });
      kept.splice(at, 1);
    }
  }
  return { run: schedule(input, kept), refused: refusals.map((r) => r.id), refusals };
}

/** The longest of these; on a tie the one whose drain loses the least work, the latest in the list. */
function longest(of: WaitingCheckpoint[]): WaitingCheckpoint {
  let drop = of[0] as WaitingCheckpoint;
  for (const k of of.slice(1)) {
    if (k.durationMs > drop.durationMs || (k.durationMs === drop.durationMs && k.workMs <= drop.workMs))
      drop = k;
  }
  return drop;
}
