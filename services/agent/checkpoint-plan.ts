/** A checkpoint admitted on this node that has not started dumping yet. */
export interface WaitingCheckpoint {
  id: string;
  /** Estimated dump + upload time with the node to itself (ms): its overhead plus its bytes at the node's rate. */
  durationMs: number;
  /** Epoch ms: the archive must be stored by then (the request's deadline). */
  cutoff: number;
  /** How much work a drain of this pod would throw away (ms it has run): the tie-break. */
  workMs: number;
  /**
   * Already accepted by an earlier plan (its caller was told so). Not yet
   * accepted (the arrival being judged): taken only if it fits with the
   * admission factor's margin, or at risk (see atRiskShare). See
   * planCheckpoints for what an accepted one is held to.
   */
  accepted?: boolean;
  /** Accepted at risk and still in its decision window: the first to give way if the node is slower. */
  atRisk?: boolean;
}

/** A checkpoint dumping or uploading now, by what it has left, with the node to itself. */
export interface RunningCheckpoint {
  /** ms of its fixed overhead still to come (0 once past it). */
  overheadLeftMs?: number;
  /** ms the node would take alone to move the bytes it has left. */
  dataLeftMs: number;
}

export interface CheckpointPlanInput {
  now: number;
  /** Checkpoints that may run at once. */
  slots: number;
  running: RunningCheckpoint[];
  waiting: WaitingCheckpoint[];
  /**
   * The part of each waiting checkpoint's duration that does not use the
   * node's throughput (freeze, runtime calls, manifest): it runs beside the
   * others' bytes instead of sharing their rate. 0 (default): all of it
   * shares, and one slot is one checkpoint after another.
   */
  overheadMs?: number;
  /**
   * The most of the node's rate one checkpoint can use on its own (its
   * single rate over the node's, in (0, 1]): each one past its overhead
   * moves at the smaller of its share of the node and this, so one running
   * alone takes its data time divided by this, not the data time itself.
   * One dump, one zstd stream and one upload do not use every core of a
   * node. A ratio, so it holds whatever the slow-down (both rates are
   * measured on the same node). Undefined or 1: all of it.
   */
  singleShare?: number;
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
  /**
   * Tentative admission: a new checkpoint that fits at the estimate but not
   * with the margin is accepted at risk, instead of refused, when some
   * checkpoint on the node (running, or planned with it) is expected to end
   * within this share of the time the new one has to its cut-off (its
   * decision window, atRiskUntil): by then the node has measured the rate it
   * really has, and a checkpoint it was wrong about is dropped while its pod
   * still has most of its time. A share, not a time: 20 s into an 85 s
   * window leaves a dropped pod three quarters of it, 20 s into the 35 s a
   * warning delivered 50 s late leaves is a drop late in it. Undefined or 0:
   * never (refused, as without it).
   */
  atRiskShare?: number;
}

/** Epoch ms by which a checkpoint accepted at `now` at risk must be confirmed or dropped (see atRiskShare). */
export function atRiskUntil(now: number, cutoff: number, share: number): number {
  return now + Math.max(0, cutoff - now) * share;
}

export interface PlannedCheckpoint {
  id: string;
  startAt: number;
  storedAt: number;
}

export interface CheckpointPlan {
  /** The checkpoints to run, in the order they take slots, each with when it is expected to be stored. */
  run: PlannedCheckpoint[];
  /** When each running checkpoint is expected to be stored, in the input's order. */
  runningEnds: number[];
  /** Those that cannot all be stored in time: refused, so their pods are drained now with their full grace. */
  refused: string[];
  /** Why each refused one was: where it stood in the schedule that refused it, for the message its pod carries. */
  refusals: Refusal[];
  /** The kept checkpoints that are at risk: accepted without the margin, still in their decision window. */
  atRisk: string[];
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

interface Schedule {
  planned: PlannedCheckpoint[];
  runningEnds: number[];
  /** The first time any checkpoint, running or planned, is expected to end. */
  firstEndAt: number;
}

/**
 * The node running `order` after the running checkpoints, at most `slots`
 * at once, every duration `slower` times its estimate. The checkpoints past
 * their overhead share the node's rate equally (a dump, zstd and the upload
 * share its CPU and network), so one running alone goes at the whole rate:
 * planned one slot each at the rate measured beside others, the last of a
 * burst, which runs alone for most of its time, was planned 15 % later than
 * it ended in bench:window, and that is the whole margin of a node loaded
 * to 0.85 of what it can move. But no faster than one checkpoint can go
 * (singleShare): on 2 cores a lone one moved 66 MiB/s, two together 82.
 */
function schedule(input: CheckpointPlanInput, order: WaitingCheckpoint[], slower = 1): Schedule {
  const overheadMs = Math.max(0, input.overheadMs ?? 0);
  interface Job {
    index: number; // into order; -1 - i for running i
    startAt: number;
    overheadEnd: number;
    /** ms of the node to itself still needed. */
    left: number;
  }
  // Offsets from now: epoch ms carry too few digits below the millisecond for the shares to add up.
  const now = input.now;
  let t = 0;
  const active: Job[] = input.running.map((r, i) => ({
    index: -1 - i,
    startAt: 0,
    overheadEnd: Math.max(0, r.overheadLeftMs ?? 0) * slower,
    left: Math.max(0, r.dataLeftMs) * slower,
  }));
  const planned: PlannedCheckpoint[] = new Array(order.length);
  const runningEnds: number[] = new Array(input.running.length);
  let firstEndAt = Number.POSITIVE_INFINITY;
  let next = 0;
  const slots = Math.max(1, input.slots);
  const single = input.singleShare !== undefined && input.singleShare > 0 ? input.singleShare : 1;
  // Each pass ends at least one overhead or one checkpoint: it terminates.
  for (;;) {
    // More running than slots (a smaller limit after a restart): the waiting start once enough ended.
    while (active.length < slots && next < order.length) {
      const c = order[next] as WaitingCheckpoint;
      const own = Math.min(overheadMs, Math.max(0, c.durationMs));
      active.push({
        index: next++,
        startAt: t,
        overheadEnd: t + own * slower,
        left: (Math.max(0, c.durationMs) - own) * slower,
      });
    }
    if (active.length === 0) break;
    const moving = active.filter((j) => j.overheadEnd <= t);
    const n = moving.length;
    let until = Number.POSITIVE_INFINITY;
    for (const j of active) if (j.overheadEnd > t) until = Math.min(until, j.overheadEnd);
    // Each mover's ms of the node per ms: its share, or what one checkpoint can use if that is less.
    // Uncapped, the same operations as without a cap, so a plan without one is the same to the bit.
    const capped = n * single < 1;
    const msFor = (left: number) => (capped ? left / single : left * n);
    const progress = (ms: number) => (capped ? ms * single : ms / n);
    for (const j of moving) until = Math.min(until, t + msFor(j.left));
    // Within a nanosecond of done is done: the sum t + left * n does not always subtract back exactly.
    for (const j of moving) j.left = msFor(j.left) <= until - t + 1e-6 ? 0 : j.left - progress(until - t);
    t = until;
    for (let i = active.length - 1; i >= 0; i--) {
      const j = active[i] as Job;
      if (j.overheadEnd > t || j.left > 0) continue;
      active.splice(i, 1);
      firstEndAt = Math.min(firstEndAt, now + t);
      if (j.index < 0) runningEnds[-1 - j.index] = now + t;
      else
        planned[j.index] = {
          id: (order[j.index] as WaitingCheckpoint).id,
          startAt: now + j.startAt,
          storedAt: now + t,
        };
    }
  }
  return { planned, runningEnds, firstEndAt };
}

/**
 * Which waiting checkpoints to run so that the most are stored before their
 * cut-offs (Moore-Hodgson: take them in priority order, and whenever one
 * would be late, drop the longest taken so far, on a tie the one that saves
 * less work; on one slot with no overhead, the schedule that stores the
 * most). Run again whenever a request arrives or a checkpoint ends, with
 * durations from the throughput measured so far. Checkpoints at risk give
 * way first: the longest of them is dropped before any other.
 *
 * With an admission factor above 1 the plan must also hold with every
 * duration that many times longer, for every checkpoint whose margin is
 * intact: the new ones, and the accepted ones that were on time with it
 * before this plan (those at risk aside: they give way first, so the
 * others' margin is judged without them). An accepted checkpoint whose
 * margin a slower throughput has used up is only held to its estimate, so a
 * re-plan with no arrival drops none that still fit. When only the margin
 * fails, the longest of those the margin holds gives way, as Moore-Hodgson
 * would: a new arrival, or an accepted one the arrival would otherwise leave
 * without its margin. It is put at risk if the node will know its real rate
 * soon enough (atRiskShare), refused otherwise: now, early in the window,
 * rather than kept on a margin that a small fall in throughput later uses
 * up, dropping it late. With a factor of 1 both checks are one.
 */
export function planCheckpoints(input: CheckpointPlanInput): CheckpointPlan {
  const factor = Math.max(1, input.admissionFactor ?? 1);
  const kept: WaitingCheckpoint[] = [];
  const refusals: Refusal[] = [];
  const atRisk = new Set(input.waiting.filter((w) => w.atRisk));
  const lateIn = (s: Schedule, among: WaitingCheckpoint[]) =>
    among.filter((k, i) => (s.planned[i] as PlannedCheckpoint).storedAt > k.cutoff);
  const storedAtIn = (s: Schedule, among: WaitingCheckpoint[], c: WaitingCheckpoint) =>
    (s.planned[among.indexOf(c)] as PlannedCheckpoint).storedAt;
  const byPriorityOrder = [...input.waiting].sort(byPriority);
  // Accepted ones already late with the margin, before any arrival: held to their estimate only.
  const accepted = byPriorityOrder.filter((w) => w.accepted && !atRisk.has(w));
  const marginUsed = new Set(lateIn(schedule(input, accepted, factor), accepted));
  for (const c of byPriorityOrder) {
    kept.push(c);
    for (;;) {
      const plain = schedule(input, kept);
      const late = lateIn(plain, kept);
      let drop: WaitingCheckpoint;
      let storedAt: number;
      let slower = 1;
      if (late.length > 0) {
        const risky = kept.filter((k) => atRisk.has(k));
        drop = longest(risky.length > 0 ? risky : kept);
        storedAt = storedAtIn(plain, kept, drop);
      } else {
        if (factor === 1) break;
        const held = kept.filter((k) => !atRisk.has(k));
        const slow = schedule(input, held, factor);
        const heldLate = lateIn(slow, held).filter((k) => !marginUsed.has(k));
        if (heldLate.length === 0) break;
        // The longest the margin holds gives way (Moore-Hodgson): at risk if the node will know soon enough.
        const longestHeld = longest(held.filter((k) => !marginUsed.has(k)));
        const share = input.atRiskShare ?? 0;
        if (share > 0 && plain.firstEndAt <= atRiskUntil(input.now, longestHeld.cutoff, share)) {
          atRisk.add(longestHeld);
          continue;
        }
        drop = longestHeld;
        storedAt = storedAtIn(slow, held, drop);
        slower = factor;
      }
      refusals.push({ id: drop.id, storedAt, slower });
      kept.splice(kept.indexOf(drop), 1);
      atRisk.delete(drop);
    }
  }
  const final = schedule(input, kept);
  return {
    run: final.planned,
    runningEnds: final.runningEnds,
    refused: refusals.map((r) => r.id),
    refusals,
    atRisk: kept.filter((k) => atRisk.has(k)).map((k) => k.id),
  };
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
