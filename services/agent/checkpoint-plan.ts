/** A checkpoint admitted on this node that has not started dumping yet. */
export interface WaitingCheckpoint {
  id: string;
  /** Estimated dump + upload time on this node (ms). */
  durationMs: number;
  /** Epoch ms: the archive must be stored by then (the request's deadline). */
  cutoff: number;
  /** How much work a drain of this pod would throw away (ms it has run): the tie-break. */
  workMs: number;
}

export interface CheckpointPlanInput {
  now: number;
  /** Checkpoints that may run at once. */
  slots: number;
  /** Epoch ms each running checkpoint is expected to end. */
  runningEnds: number[];
  waiting: WaitingCheckpoint[];
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

/** List scheduling of `order` onto the slots, after the running checkpoints. */
function schedule(input: CheckpointPlanInput, order: WaitingCheckpoint[]): PlannedCheckpoint[] {
  const free = [...input.runningEnds.map((e) => Math.max(input.now, e))];
  while (free.length < input.slots) free.push(input.now);
  free.sort((a, b) => a - b);
  // More running than slots (a smaller limit after a restart): the waiting start after the earliest ends.
  free.splice(0, free.length - input.slots);
  return order.map((c) => {
    const startAt = free.shift() as number;
    const storedAt = startAt + c.durationMs;
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
 */
export function planCheckpoints(input: CheckpointPlanInput): CheckpointPlan {
  const kept: WaitingCheckpoint[] = [];
  const refused: string[] = [];
  for (const c of [...input.waiting].sort(byPriority)) {
    kept.push(c);
    for (;;) {
      const planned = schedule(input, kept);
      if (planned.every((p, i) => p.storedAt <= (kept[i] as WaitingCheckpoint).cutoff)) break;
      let drop = 0;
      for (let i = 1; i < kept.length; i++) {
        const k = kept[i] as WaitingCheckpoint;
        const d = kept[drop] as WaitingCheckpoint;
        if (k.durationMs > d.durationMs || (k.durationMs === d.durationMs && k.workMs <= d.workMs)) drop = i;
      }
      refused.push((kept.splice(drop, 1)[0] as WaitingCheckpoint).id);
    }
  }
  return { run: schedule(input, kept), refused };
}
