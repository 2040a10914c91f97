import { type AgentThroughput, MAX_REPORTED_BYTES_PER_SEC } from '../common/agent-api.js';
import { mibOneDecimal as mib } from '../common/quantity.js';
import { ConcurrencyTimeline } from './checkpoint-concurrency.js';
import type { CheckpointEstimate, CheckpointSample, ThroughputBasis } from './checkpoint-estimate.js';
import { CheckpointOverlap } from './checkpoint-overlap.js';
import {
  atRiskUntil,
  planCheckpoints,
  type Refusal,
  type RunningCheckpoint,
  type WaitingCheckpoint,
} from './checkpoint-plan.js';
import { AgentFailure } from './errors.js';

export interface CheckpointAdmissionOptions {
  now?: () => number;
  /**
   * How often the waiting checkpoints are judged again while nothing else
   * happens. Arrivals, ends and status reads re-plan too, but time alone can
   * make a waiting checkpoint miss its cut-off (the one ahead runs long);
   * without the tick that was found only at the next status read, 16.7 s
   * after the warning in bench:window at 1x, when the pod could have been
   * drained at once.
   */
  replanEveryMs?: number;
  /**
   * How long after the latest arrival a checkpoint waits before it may take
   * a free slot (default 300 ms). A warning sends all of a node's pods at
   * once, and their requests arrive within a few hundred milliseconds (230
   * ms for 10 pods in bench:window); granted on arrival, the free slots
   * went to whichever came first: 1.3 and 1.6 GiB pods started ahead of the
   * 350 MiB ones the plan put first, and the plan then had to drop others
   * that would have fitted. Once the arrivals have settled, the slots go in
   * the plan's order.
   */
  settleMs?: number;
  /** The margin a new checkpoint must fit with (checkpoint-plan.ts, admissionFactor); 1: none. */
  admissionFactor?: number;
  /**
   * Tentative admission (checkpoint-plan.ts, atRiskShare): a checkpoint
   * that fits at the estimate but not with the margin is accepted at risk
   * if the node expects a checkpoint to end within this share of the time
   * to its cut-off; it gives way first while the node's rate is put to the
   * test, and once that window has passed counts as any accepted one.
   * Undefined or 0: such a checkpoint is refused.
   */
  atRiskShare?: number;
  /** Told the throughput each plan used (the agent's rate gauge). */
  onPlanned?: (throughput: AgentThroughput) => void;
  /** Told each decision (the agent's admission counter and log). */
  onDecision?: (decision: AdmissionDecision, about: DecisionFigures) => void;
}

/** What a decision was about, for its log line: the checkpoint, and the node rate of the plan that made it. */
export interface DecisionFigures {
  id: string;
  bytes: number;
  cutoff: number;
  /** Epoch ms it is expected to be stored (accepted, confirmed); undefined when it was refused or dropped. */
  estimatedStoredAt?: number | undefined;
  bytesPerSec: number;
  basis: ThroughputBasis;
  /** The most one checkpoint alone moves in that plan, when lone ones were measured below the node's rate. */
  singleBytesPerSec?: number | undefined;
}

/**
 * accepted: with the margin; accepted-at-risk: at the estimate only;
 * confirmed: at risk (on arrival, or when a later arrival took its
 * margin), and still kept when its window ended; refused: at
 * once; dropped, dropped-at-risk: accepted, then dropped by a re-plan
 * before its dump.
 */
export const ADMISSION_DECISIONS = [
  'accepted',
  'accepted-at-risk',
  'confirmed',
  'refused',
  'dropped',
  'dropped-at-risk',
] as const;
export type AdmissionDecision = (typeof ADMISSION_DECISIONS)[number];

export interface AdmissionRequest {
  id: string;
  /** Memory the dump will write. */
  bytes: number;
  /** Epoch ms the archive must be stored by. */
  cutoff: number;
  /** Epoch ms the pod started (work a drain would lose); undefined: none known. */
  startedAt?: number | undefined;
}

/** An admitted checkpoint's hold on the plan. */
export interface Admitted {
  /** Epoch ms the archive is expected to be stored, as first planned. */
  estimatedStoredAt: number;
  /** Accepted at the estimate but not with the margin: the first to be dropped if the node turns out slower. */
  atRisk: boolean;
  /** Fires (reason: would-miss-deadline) if a later plan drops this checkpoint while it still waits. */
  dropped: AbortSignal;
  /** Its rank among waiting checkpoints (CheckpointSlots takes the lowest first). */
  rank: number[];
  /**
   * Resolves when the plan has it start now, once the burst it came with
   * has arrived (settleMs): then it may take a slot. Rejects with the
   * signal's reason if that fires first.
   */
  turn(signal: AbortSignal): Promise<void>;
  /** It took a slot: from now it runs to its end or its deadline, never dropped. */
  started(): void;
  /** It ended; a stored archive's timing feeds the throughput estimate. */
  finished(sample?: CheckpointSample): void;
}

/** A running checkpoint that was not admitted (no memory given): it ends, perhaps with a stored archive's timing. */
export interface Unadmitted {
  finished(sample?: CheckpointSample): void;
}

interface Entry extends AdmissionRequest {
  runningSince?: number | undefined;
  /** Its caller was told it is admitted: from then on it is kept while it fits without the margin. */
  accepted: boolean;
  drop: AbortController;
  estimatedStoredAt: number;
  /** Epoch ms its decision window ends, while it is at risk. */
  atRiskUntil?: number | undefined;
  /** Epoch ms it was accepted. */
  acceptedAt?: number | undefined;
  /** The plan has had it start: it may take a slot. */
  hasTurn: boolean;
  /** Told when it gets its turn. */
  onTurn?: (() => void) | undefined;
}

/**
 * Decides at once whether a checkpoint can be stored before its cut-off on
 * this node, given the checkpoints already admitted (running and waiting)
 * and the throughput the node measured. Every arrival and every end plans
 * the waiting checkpoints again (checkpoint-plan.ts), so a slower node than
 * estimated drops the checkpoints that no longer fit while their pods still
 * run, rather than freezing them for a dump its deadline will cut.
 */
export class CheckpointAdmission {
  private readonly entries = new Map<string, Entry>();
  private ticker: NodeJS.Timeout | undefined;
  private readonly now: () => number;
  private readonly replanEveryMs: number;
  private readonly settleMs: number;
  /** Epoch ms of the latest arrival, and a timer to plan again once arrivals have settled. */
  private lastArrivalAt = Number.NEGATIVE_INFINITY;
  private settleTimer: NodeJS.Timeout | undefined;
  private readonly admissionFactor: number;
  private readonly atRiskShare: number;
  /** How many checkpoints held a slot over time (slotsInUse): how the samples' shares are read. */
  private readonly concurrency: ConcurrencyTimeline;
  /** Which checkpoints ran when, and their sizes: how far a sample may prove the node slower. */
  private readonly overlap: CheckpointOverlap;
  /** The time the last plan was made at: a refusal's figures count from it, as its schedule did. */
  private plannedAt = 0;
  /**
   * The node rate the last plan used, and its basis: the estimate, or lower
   * if a running checkpoint overran it; and the single-checkpoint rate it
   * used, if below the node's (undefined: a lone one goes at the node's).
   */
  private planned: { bytesPerSec: number; basis: ThroughputBasis; single?: number | undefined } | undefined;

  constructor(
    private readonly estimate: CheckpointEstimate,
    private readonly slots: () => number,
    private readonly o: CheckpointAdmissionOptions = {},
  ) {
    this.now = o.now ?? Date.now;
    this.replanEveryMs = o.replanEveryMs ?? 1000;
    this.settleMs = Math.max(0, o.settleMs ?? 300);
    this.admissionFactor = Math.max(1, o.admissionFactor ?? 1);
    this.atRiskShare = Math.min(1, Math.max(0, o.atRiskShare ?? 0));
    this.concurrency = new ConcurrencyTimeline(this.now);
    this.overlap = new CheckpointOverlap(this.now);
  }

  /** The slots in use changed (every checkpoint's, admitted or not): how the samples' shares are read. */
  slotsInUse(running: number): void {
    this.concurrency.set(running);
  }

  /** Admits the checkpoint, or throws would-miss-deadline; dropping others if that saves more pods. */
  admit(req: AdmissionRequest): Admitted {
    if (this.entries.has(req.id))
      throw new AgentFailure('conflict', `checkpoint ${req.id} is already admitted`);
    const entry: Entry = {
      ...req,
      accepted: false,
      drop: new AbortController(),
      estimatedStoredAt: Number.POSITIVE_INFINITY,
      hasTurn: false,
    };
    this.entries.set(req.id, entry);
    this.lastArrivalAt = this.now();
    const refusal = this.replan().find((r) => r.id === req.id);
    if (refusal) {
      this.decided('refused', entry, false);
      throw this.wouldMiss(entry, refusal, '');
    }
    entry.accepted = true;
    entry.acceptedAt = this.now();
    this.decided(entry.atRiskUntil === undefined ? 'accepted' : 'accepted-at-risk', entry, true);
    return {
      estimatedStoredAt: entry.estimatedStoredAt,
      atRisk: entry.atRiskUntil !== undefined,
      dropped: entry.drop.signal,
      // The plan's priority (byPriority) in a form that does not change as time passes: cut-off,
      // size (the duration grows with it at any throughput), then the earliest start (most work).
      rank: [req.cutoff, req.bytes, req.startedAt ?? this.now()],
      turn: (signal) =>
        new Promise<void>((resolve, reject) => {
          if (entry.hasTurn) return resolve();
          if (signal.aborted) return reject(signal.reason);
          const abandon = () => {
            entry.onTurn = undefined;
            reject(signal.reason);
          };
          signal.addEventListener('abort', abandon, { once: true });
          entry.onTurn = () => {
            signal.removeEventListener('abort', abandon);
            resolve();
          };
          this.replan();
        }),
      started: () => {
        entry.runningSince = this.now();
        this.overlap.started(req.id, req.bytes);
        this.tickWhileWaiting();
      },
      finished: (sample) => {
        if (this.entries.get(req.id) !== entry) return;
        this.entries.delete(req.id);
        this.overlap.ended(req.id, sample?.bytes);
        if (sample) this.estimate.observe(this.withShare(req.id, sample));
        this.replan();
      },
    };
  }

  /** The throughput this node plans with, and whether it measured it, for the worker's budget. */
  get throughput(): AgentThroughput {
    const t = this.planned ?? { bytesPerSec: this.estimate.bytesPerSec, basis: this.estimate.basis };
    return {
      bytesPerSec: Math.min(MAX_REPORTED_BYTES_PER_SEC, Math.round(t.bytesPerSec)),
      basis: t.basis,
    };
  }

  /**
   * A checkpoint that was not admitted (no memory given) took a slot: it
   * shares the node with the admitted ones, its size unknown until it ends,
   * and its end still tells how fast this node is.
   */
  unadmittedStarted(id: string): Unadmitted {
    this.overlap.started(id);
    return {
      finished: (sample) => {
        this.overlap.ended(id, sample?.bytes);
        if (!sample) return;
        this.estimate.observe(this.withShare(id, sample));
        this.replan();
      },
    };
  }

  /**
   * The sample with the mean number of checkpoints that ran beside it,
   * unless its caller knew, and the most the node can have moved meanwhile.
   */
  private withShare(id: string, sample: CheckpointSample): CheckpointSample {
    const now = this.now();
    const from = now - sample.ms;
    const others = this.overlap.othersBytes(id, from, now);
    return {
      ...sample,
      concurrency: sample.concurrency ?? this.concurrency.meanBetween(from, now),
      nodeBytesAtMost: sample.nodeBytesAtMost ?? (others === undefined ? undefined : sample.bytes + others),
    };
  }

  /**
   * Epoch ms the checkpoint is expected to be stored, planned again now
   * (undefined once it ended, or if this plan drops it): a running
   * checkpoint past its estimate pushes the waiting ones back, and the
   * caller must never read a stale time that has already passed.
   */
  estimatedStoredAt(id: string): number | undefined {
    this.replan();
    return this.entries.get(id)?.estimatedStoredAt;
  }

  /**
   * The refusal a pod's owner reads ("refused by <node>'s agent: needs ~N s
   * at R MiB/s measured, X s left"): the time it needed, counted from now
   * to stored in the schedule that refused it, against the time left, and
   * the rate and basis that schedule used, so an operator can tell a slow
   * node from a wrong assumption. The same figures go in the 422 body.
   */
  private wouldMiss(e: Entry, r: Refusal, prefix: string): AgentFailure {
    const now = this.plannedAt;
    const throughput = this.throughput;
    const neededMs = Math.max(0, r.storedAt - now);
    const leftMs = e.cutoff - now;
    // Its own time alone, which is at most at the single rate; the rate named stays the node's.
    const single = this.planned?.single;
    const durationMs = this.estimate.durationMs(
      e.bytes,
      Math.min(throughput.bytesPerSec, single ?? Number.POSITIVE_INFINITY),
    );
    const others = this.entries.size - (this.entries.has(e.id) ? 1 : 0);
    const why =
      neededMs > leftMs
        ? `its ${mib(e.bytes)} MiB take ~${seconds(durationMs)} s` +
          (single !== undefined ? ` (one checkpoint alone moves at most ${mib(single)} MiB/s here)` : '') +
          (others > 0 ? ` with ${others} other checkpoint(s) admitted on this node` : '') +
          (r.slower > 1 ? `, counted ${r.slower}x slower (the admission margin)` : '') +
          (e.atRiskUntil !== undefined && e.acceptedAt !== undefined
            ? `; accepted at risk ${seconds(now - e.acceptedAt)} s before (it fitted at the estimate, not with the margin)`
            : '')
        : `it would fit, but its ${mib(e.bytes)} MiB (~${seconds(durationMs)} s) give way to shorter checkpoints, ` +
          'which stores more pods before the cut-off';
    return new AgentFailure(
      'would-miss-deadline',
      `${prefix}needs ~${seconds(neededMs)} s at ${mib(throughput.bytesPerSec)} MiB/s ${throughput.basis}, ` +
        `${seconds(Math.max(0, leftMs))} s left: ${why} (cut-off ${new Date(e.cutoff).toISOString()})`,
      {
        plan: {
          neededMs: Math.ceil(neededMs),
          leftMs: Math.floor(leftMs),
          durationMs,
          admissionFactor: r.slower,
          throughput,
        },
      },
    );
  }

  /** Plans the waiting checkpoints again; drops those that no longer fit and returns every refusal. */
  private replan(): Refusal[] {
    const now = this.now();
    this.plannedAt = now;
    const overheadMs = this.estimate.overheadMs;
    // A running checkpoint still going past the time its bytes take at the estimate proves the node slower now:
    // the first of a burst to overrun re-plans the queue at once, instead of when it (and the next) ended.
    const estimated = this.estimate.bytesPerSec;
    let bytesPerSec = estimated;
    let basis = this.estimate.basis;
    let single = this.estimate.singleBytesPerSec;
    const shares = new Map<Entry, number>();
    for (const e of this.entries.values()) {
      if (e.runningSince === undefined) continue;
      const share = this.concurrency.meanBetween(e.runningSince, now);
      shares.set(e, share);
      const elapsed = now - e.runningSince;
      // Planned at the single rate rather than its share (it ran alone, or nearly), it was expected to take
      // longer than its share says, and an overrun of that proves one checkpoint slower, not the node.
      if (single !== undefined && single * share < estimated) {
        single = Math.min(single, this.estimate.ceilingWhileRunning(e.bytes, elapsed));
        continue;
      }
      const ceiling = this.estimate.ceilingWhileRunning(
        e.bytes,
        elapsed,
        share,
        this.overlap.othersBytes(e.id, e.runningSince, now),
      );
      if (ceiling < bytesPerSec) {
        bytesPerSec = ceiling;
        basis = 'measured';
      }
    }
    if (single !== undefined && single >= bytesPerSec) single = undefined;
    this.planned = { bytesPerSec, basis, single };
    const running: { e: Entry; r: RunningCheckpoint }[] = [];
    const waiting: WaitingCheckpoint[] = [];
    for (const e of this.entries.values()) {
      if (e.runningSince !== undefined) {
        // What it has moved so far at its share of that rate (or the single rate, if less), the rest at the
        // whole rate (the plan shares it out, and holds each to the single rate).
        const elapsed = now - e.runningSince;
        const dataMs = Math.max(0, elapsed - overheadMs);
        const share = shares.get(e) ?? 1;
        const moved =
          single !== undefined && single * share < bytesPerSec
            ? (dataMs * single) / 1000
            : (dataMs * bytesPerSec) / 1000 / share;
        running.push({
          e,
          r: {
            overheadLeftMs: Math.max(0, overheadMs - elapsed),
            dataLeftMs: (Math.max(0, e.bytes - moved) / bytesPerSec) * 1000,
          },
        });
      } else
        waiting.push({
          id: e.id,
          durationMs: this.estimate.durationMs(e.bytes, bytesPerSec),
          cutoff: e.cutoff,
          workMs: e.startedAt === undefined ? 0 : now - e.startedAt,
          accepted: e.accepted,
          atRisk: e.atRiskUntil !== undefined,
        });
    }
    const plan = planCheckpoints({
      now,
      slots: this.slots(),
      running: running.map((r) => r.r),
      waiting,
      overheadMs,
      ...(single === undefined ? {} : { singleShare: single / bytesPerSec }),
      admissionFactor: this.admissionFactor,
      atRiskShare: this.atRiskShare,
    });
    this.o.onPlanned?.(this.throughput);
    for (const [i, r] of running.entries()) r.e.estimatedStoredAt = plan.runningEnds[i] as number;
    // Turns go in the plan's order, once the arrivals of a burst have settled.
    const settled = now - this.lastArrivalAt >= this.settleMs;
    for (const p of plan.run) {
      const e = this.entries.get(p.id);
      if (!e) continue;
      e.estimatedStoredAt = p.storedAt;
      if (settled && e.accepted && !e.hasTurn && p.startAt <= now) {
        e.hasTurn = true;
        e.onTurn?.();
        e.onTurn = undefined;
      }
    }
    if (!settled && !this.settleTimer) {
      this.settleTimer = setTimeout(
        () => {
          this.settleTimer = undefined;
          this.replan();
        },
        this.lastArrivalAt + this.settleMs - now,
      );
      this.settleTimer.unref();
    }
    for (const id of plan.atRisk) {
      const e = this.entries.get(id) as Entry;
      // An arrival, or an accepted one it left without its margin: its window starts now.
      if (e.atRiskUntil === undefined) e.atRiskUntil = atRiskUntil(now, e.cutoff, this.atRiskShare);
    }
    for (const r of plan.refusals) {
      const e = this.entries.get(r.id) as Entry;
      // The arrival being judged is refused by admit()'s answer; only accepted ones are dropped.
      if (e.accepted) {
        this.decided(e.atRiskUntil === undefined ? 'dropped' : 'dropped-at-risk', e, false);
        e.drop.abort(this.wouldMiss(e, r, 'dropped from the queue before its dump: '));
      }
      this.entries.delete(r.id);
    }
    // Judged at risk one last time by the plan above: those still kept at the end of their window are confirmed.
    for (const e of this.entries.values()) {
      if (e.atRiskUntil !== undefined && e.atRiskUntil <= now) {
        e.atRiskUntil = undefined;
        this.decided('confirmed', e, true);
      }
    }
    this.tickWhileWaiting();
    return plan.refusals;
  }

  private decided(decision: AdmissionDecision, e: Entry, kept: boolean): void {
    const t = this.throughput;
    this.o.onDecision?.(decision, {
      id: e.id,
      bytes: e.bytes,
      cutoff: e.cutoff,
      estimatedStoredAt: kept && Number.isFinite(e.estimatedStoredAt) ? e.estimatedStoredAt : undefined,
      bytesPerSec: t.bytesPerSec,
      basis: t.basis,
      singleBytesPerSec: this.planned?.single === undefined ? undefined : Math.round(this.planned.single),
    });
  }

  /** A timer runs only while some admitted checkpoint waits for a slot; it never holds the process open. */
  private tickWhileWaiting(): void {
    const waiting = [...this.entries.values()].some((e) => e.runningSince === undefined);
    if (waiting && !this.ticker) {
      this.ticker = setInterval(() => this.replan(), this.replanEveryMs);
      this.ticker.unref();
    } else if (!waiting && this.ticker) {
      clearInterval(this.ticker);
      this.ticker = undefined;
    }
  }
}

function seconds(ms: number): number {
  return Math.round(ms / 100) / 10;
}
