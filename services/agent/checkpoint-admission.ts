import { type AgentThroughput, MAX_REPORTED_BYTES_PER_SEC } from '../common/agent-api.js';
import { mibOneDecimal as mib } from '../common/quantity.js';
import type { CheckpointEstimate, CheckpointSample } from './checkpoint-estimate.js';
import { planCheckpoints, type Refusal, type WaitingCheckpoint } from './checkpoint-plan.js';
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
  /** The margin a new checkpoint must fit with (checkpoint-plan.ts, admissionFactor); 1: none. */
  admissionFactor?: number;
  /** Told the throughput each plan used (the agent's rate gauge). */
  onPlanned?: (throughput: AgentThroughput) => void;
}

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
  /** Fires (reason: would-miss-deadline) if a later plan drops this checkpoint while it still waits. */
  dropped: AbortSignal;
  /** Its rank among waiting checkpoints (CheckpointSlots takes the lowest first). */
  rank: number[];
  /** It took a slot: from now it runs to its end or its deadline, never dropped. */
  started(): void;
  /** It ended; a stored archive's timing feeds the throughput estimate. */
  finished(sample?: CheckpointSample): void;
}

interface Entry extends AdmissionRequest {
  runningSince?: number | undefined;
  /** Its caller was told it is admitted: from then on it is kept while it fits without the margin. */
  accepted: boolean;
  drop: AbortController;
  estimatedStoredAt: number;
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
  private readonly admissionFactor: number;
  /** The time the last plan was made at: a refusal's figures count from it, as its schedule did. */
  private plannedAt = 0;

  constructor(
    private readonly estimate: CheckpointEstimate,
    private readonly slots: () => number,
    private readonly o: CheckpointAdmissionOptions = {},
  ) {
    this.now = o.now ?? Date.now;
    this.replanEveryMs = o.replanEveryMs ?? 1000;
    this.admissionFactor = Math.max(1, o.admissionFactor ?? 1);
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
    };
    this.entries.set(req.id, entry);
    const refusal = this.replan().find((r) => r.id === req.id);
    if (refusal) throw this.wouldMiss(entry, refusal, '');
    entry.accepted = true;
    return {
      estimatedStoredAt: entry.estimatedStoredAt,
      dropped: entry.drop.signal,
      // The plan's priority (byPriority) in a form that does not change as time passes: cut-off,
      // size (the duration grows with it at any throughput), then the earliest start (most work).
      rank: [req.cutoff, req.bytes, req.startedAt ?? this.now()],
      started: () => {
        entry.runningSince = this.now();
        this.tickWhileWaiting();
      },
      finished: (sample) => {
        if (this.entries.get(req.id) !== entry) return;
        this.entries.delete(req.id);
        if (sample) this.estimate.observe(sample);
        this.replan();
      },
    };
  }

  /** The throughput this node plans with, and whether it measured it, for the worker's budget. */
  get throughput(): AgentThroughput {
    return {
      bytesPerSec: Math.min(MAX_REPORTED_BYTES_PER_SEC, Math.round(this.estimate.bytesPerSec)),
      basis: this.estimate.basis,
    };
  }

  /** A checkpoint that was not admitted (no memory given) still tells how fast this node is. */
  observe(sample: CheckpointSample): void {
    this.estimate.observe(sample);
    this.replan();
  }

  /**
   * Epoch ms the checkpoint is expected to be stored, planned again now
   * (undefined once it ended, or if this plan drops it): a running
   * checkpoint past its estimate pushes the waiting ones back, and the
   * caller must never read a stale time that has already passed.
   */
  estimatedStoredAt(id: string): number | undefined {
    this.replan();
    const e = this.entries.get(id);
    if (!e) return undefined;
    if (e.runningSince !== undefined)
      return Math.max(this.now(), e.runningSince + this.estimate.durationMs(e.bytes));
    return e.estimatedStoredAt;
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
    const durationMs = this.estimate.durationMs(e.bytes);
    const others = this.entries.size - (this.entries.has(e.id) ? 1 : 0);
    const why =
      neededMs > leftMs
        ? `its ${mib(e.bytes)} MiB take ~${seconds(durationMs)} s` +
          (others > 0 ? ` with ${others} other checkpoint(s) admitted on this node` : '') +
          (r.slower > 1 ? `, counted ${r.slower}x slower (the admission margin)` : '')
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
    const runningEnds: number[] = [];
    const waiting: WaitingCheckpoint[] = [];
    for (const e of this.entries.values()) {
      const durationMs = this.estimate.durationMs(e.bytes);
      if (e.runningSince !== undefined) runningEnds.push(e.runningSince + durationMs);
      else
        waiting.push({
          id: e.id,
          durationMs,
          cutoff: e.cutoff,
          workMs: e.startedAt === undefined ? 0 : now - e.startedAt,
          accepted: e.accepted,
        });
    }
    const plan = planCheckpoints({
      now,
      slots: this.slots(),
      runningEnds,
      waiting,
      admissionFactor: this.admissionFactor,
    });
    this.o.onPlanned?.(this.throughput);
    for (const p of plan.run) {
      const e = this.entries.get(p.id);
      if (e) e.estimatedStoredAt = p.storedAt;
    }
    for (const r of plan.refusals) {
      const e = this.entries.get(r.id) as Entry;
      // The arrival being judged is refused by admit()'s answer; only accepted ones are dropped.
      if (e.accepted) e.drop.abort(this.wouldMiss(e, r, 'dropped from the queue before its dump: '));
      this.entries.delete(r.id);
    }
    this.tickWhileWaiting();
    return plan.refusals;
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
