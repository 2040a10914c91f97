/** One finished checkpoint as this node measured it: raw bytes dumped and the time from dump start to stored. */
export interface CheckpointSample {
  bytes: number;
  ms: number;
  /**
   * How many checkpoints ran on the node, on average, while this one did
   * (itself included; default 1): each moved at its share of the node's
   * rate, so a 128 MiB checkpoint that took 6 s beside another proves twice
   * the rate it would alone.
   */
  concurrency?: number | undefined;
  /**
   * The most bytes the node can have moved while this one ran: its own and
   * every overlapping checkpoint's whole size (CheckpointOverlap). Above
   * concurrency x bytes when it got less than its share, as a one-part
   * upload beside a many-part one does; a sample proves the node slower
   * only as far as this allows. Undefined: concurrency x bytes (fair shares).
   */
  nodeBytesAtMost?: number | undefined;
}

export interface CheckpointEstimateOptions {
  /** Used until this node has measured a checkpoint of its own: bytes per second, all its checkpoints together. */
  assumedBytesPerSec: number;
  /** Freeze, runtime API calls and manifest: the part of a checkpoint that does not grow with memory. */
  overheadMs: number;
  /** How many recent checkpoints the average covers. */
  window?: number;
  /** How many of the latest checkpoints may pull the rate below the window's on their own (0: none). */
  recent?: number;
  /** How many recent checkpoints that ran alone the single-checkpoint rate covers. */
  singleWindow?: number;
}

/**
 * The mean concurrency up to which a sample counts as having run alone
 * (singleBytesPerSec). Exactly 1 is rare outside the calibration: the last
 * checkpoint of a burst starts while the one before it ends. A sample that
 * shared the node for part of its time moved slower then, so reading it as
 * alone can only understate the single rate, never overstate it: at 1.2 it
 * shared at most a fifth of its time with one other, which at bench:window's
 * figures (41 MiB/s each beside another, 66 alone) reads it at most 8 % low.
 */
export const ALONE_CONCURRENCY = 1.2;

/** Where a throughput figure comes from: this node's own checkpoints, or the configured assumption. */
export type ThroughputBasis = 'measured' | 'assumed';

/**
 * How fast this node stores checkpoints: the bytes per second it moves in
 * all, shared by the checkpoints running at once (checkpoint-plan.ts
 * schedules with that share), plus a fixed overhead per checkpoint. Before
 * any measurement, the configured assumption, which should be on the slow
 * side: a too-fast guess admits pods that are then cut off at their
 * deadline mid-dump.
 *
 * What one checkpoint of B bytes that took T ms beside c others on average
 * (c counting itself) proves, whatever the real overhead o (0 <= o <= the
 * assumed overhead O): its share, a c-th of the node's rate, moved B bytes
 * in T - o ms, so the node's rate lies between cB/T and cB/(T - O)
 * (unbounded once T <= O). Each sample keeps the assumption if it lies in
 * that interval and otherwise moves it to the nearest end: up to cB/T at
 * most (the rate the checkpoint proves even with no overhead at all), down
 * to cB/(T - O) (the node is slower than assumed even granting the whole
 * overhead). The window's rate is those bytes over those per-sample times,
 * so large checkpoints, which say the most, weigh the most. The lower end
 * assumes fair shares, which uploads do not get (CheckpointOverlap): where
 * the neighbours' sizes are known, it is N/(T - O) instead, N the most the
 * node can have moved meanwhile (nodeBytesAtMost, never below cB), so a
 * small checkpoint slowed by a large one beside it lowers nothing.
 *
 * Why not the bytes over T - O: in bench:window at 1x the calibration's 32
 * MiB checkpoints ended in 0.4 to 0.9 s, inside the assumed 1.5 s overhead,
 * so they taught nothing, and the agents planned the burst at the assumed
 * 32 MiB/s while the nodes moved about 130 MiB/s (their real overhead was
 * 0.2 to 0.3 s). And when T - O is small it is mostly noise: 256 MiB stored
 * in 2.2 s with a real overhead of 0.2 s would have read as 366 MiB/s. B/T
 * can only be beaten by the node, never by noise in the overhead. Nor a fit
 * of overhead and rate over sizes: a burst's checkpoints are of a few
 * similar sizes, and a least-squares slope over them swings with every
 * sample.
 *
 * A burst slows a node: in bench:window at 2x the first checkpoints of the
 * burst moved up to 1.62x slower than the calibration just before it. An
 * average over 8 samples, most of them from before, took several more
 * checkpoints to show it, and a checkpoint accepted on the old figure was
 * dropped 19 to 23 s into the window. So the latest `recent` samples, read
 * against the window's rate the same way (they move it only if they prove
 * the node slower even granting the whole overhead), set the rate on their
 * own when they are slower: one slow pair of checkpoints re-plans the
 * queue at once. Faster ones only lift it through the window.
 *
 * One checkpoint cannot use the whole node: it is one dump, one zstd stream
 * and one upload. In bench:window on 2 cores a lone checkpoint moved 66
 * MiB/s where two together moved 82, so the last of a burst, planned alone
 * at the node's whole rate, ran slower than planned, and a pod accepted at
 * risk on that plan was dropped 7.9 s later. singleBytesPerSec is what the
 * latest checkpoints that ran alone (ALONE_CONCURRENCY) proved one moves,
 * each read as the node's samples are but against bytesPerSec, the rate a
 * lone one was planned at before: a lone sample whose interval holds it
 * leaves it, one that proves a lone checkpoint slower even granting the
 * whole overhead lowers it to B/(T - O), at which the plan's overhead plus
 * bytes gives that sample's own time back, and a faster one lifts it to B/T
 * at most. The plan runs each checkpoint at the smaller of its share of the
 * node's rate and that one.
 */
export class CheckpointEstimate {
  private readonly samples: CheckpointSample[] = [];
  /** The latest samples that ran alone: a window of their own, as they are a few per burst. */
  private readonly alone: CheckpointSample[] = [];
  private readonly window: number;
  private readonly recent: number;
  private readonly singleWindow: number;

  constructor(private readonly o: CheckpointEstimateOptions) {
    this.window = o.window ?? 8;
    this.recent = Math.min(this.window, o.recent ?? 2);
    this.singleWindow = Math.max(1, o.singleWindow ?? 4);
  }

  observe(sample: CheckpointSample): void {
    if (!Number.isFinite(sample.bytes) || !Number.isFinite(sample.ms) || sample.bytes <= 0) return;
    // A time of 0 ms proves an unbounded rate; no real dump and upload ends within a millisecond.
    if (sample.ms < 1) return;
    this.samples.push(sample);
    if (this.samples.length > this.window) this.samples.shift();
    if ((sample.concurrency ?? 1) <= ALONE_CONCURRENCY) {
      this.alone.push(sample);
      if (this.alone.length > this.singleWindow) this.alone.shift();
    }
  }

  /** Bytes per second the node moves in all, or the assumption while none contradicted it. */
  get bytesPerSec(): number {
    const windowRate = this.windowRate();
    if (windowRate === undefined || this.recent === 0) return windowRate ?? this.o.assumedBytesPerSec;
    return Math.min(windowRate, rateOf(this.samples.slice(-this.recent), windowRate, this.o.overheadMs).rate);
  }

  /**
   * Bytes per second one checkpoint moves running alone, as the latest that
   * did proved it (see the class); undefined until one ran alone, and then
   * a lone checkpoint goes at the node's whole rate, as before. At or above
   * bytesPerSec it changes no plan.
   */
  get singleBytesPerSec(): number | undefined {
    if (this.alone.length === 0) return undefined;
    // Each read as alone: its own rate, not a share of the node's.
    const own = this.alone.map((s) => ({ bytes: s.bytes, ms: s.ms }));
    return rateOf(own, this.bytesPerSec, this.o.overheadMs).rate;
  }

  /**
   * Where bytesPerSec comes from, for the messages a refused or dropped pod
   * carries and for the worker's budget: an operator who reads "measured"
   * tunes the node, one who reads "assumed" tunes
   * SPOT_RESCUE_AGENT_ASSUMED_CHECKPOINT_MIBPS. Checkpoints that all agreed
   * with the assumption leave it "assumed": they did not set the figure.
   */
  get basis(): ThroughputBasis {
    return this.windowRate() === undefined ? 'assumed' : 'measured';
  }

  get measured(): number {
    return this.samples.length;
  }

  get overheadMs(): number {
    return this.o.overheadMs;
  }

  /**
   * The most the node can be moving given a checkpoint of `bytes` that has
   * run `elapsedMs` beside `concurrency` on average and has not ended: its
   * share must have moved less than its bytes in the time after the whole
   * overhead. Infinity while it could still be in its overhead. Where a
   * checkpoint's own rate is held by singleBytesPerSec rather than its share,
   * this with a concurrency of 1 bounds that single rate instead
   * (checkpoint-admission.ts).
   */
  ceilingWhileRunning(bytes: number, elapsedMs: number, concurrency = 1, othersBytes?: number): number {
    const dataMs = elapsedMs - this.o.overheadMs;
    // With the others' sizes known, what they can have moved bounds the node too (CheckpointSample.nodeBytesAtMost).
    const nodeBytes = Math.max(Math.max(1, concurrency) * bytes, bytes + (othersBytes ?? 0));
    return dataMs > 0 ? (nodeBytes * 1000) / dataMs : Number.POSITIVE_INFINITY;
  }

  /** How long a checkpoint of `bytes` takes with the node to itself at `bytesPerSec` (default: the estimate). */
  durationMs(bytes: number, bytesPerSec = this.bytesPerSec): number {
    return Math.ceil(this.o.overheadMs + (Math.max(0, bytes) / bytesPerSec) * 1000);
  }

  private windowRate(): number | undefined {
    const r = rateOf(this.samples, this.o.assumedBytesPerSec, this.o.overheadMs);
    return r.moved ? r.rate : undefined;
  }
}

/**
 * The node rate `samples` prove, each read as close to `reference` as its
 * interval allows (see CheckpointEstimate); `moved`: some sample's interval
 * excluded the reference.
 */
function rateOf(
  samples: CheckpointSample[],
  reference: number,
  overheadMs: number,
): { rate: number; moved: boolean } {
  let bytes = 0;
  let ms = 0;
  let moved = false;
  for (const s of samples) {
    // The node's bytes while this one ran: its own times the number sharing the node with it.
    const nodeBytes = s.bytes * Math.max(1, s.concurrency ?? 1);
    const referenceMs = (nodeBytes / reference) * 1000;
    // Granting the whole overhead, and that the node moved as much as its neighbours allow, this is the
    // fastest it can have gone: a sample lowers the rate no further.
    const fastestMs =
      (Math.max(0, s.ms - overheadMs) * nodeBytes) / Math.max(nodeBytes, s.nodeBytesAtMost ?? 0);
    const dataMs = Math.min(s.ms, Math.max(fastestMs, referenceMs));
    moved ||= dataMs !== referenceMs;
    bytes += nodeBytes;
    ms += dataMs;
  }
  return { rate: moved && ms > 0 ? (bytes / ms) * 1000 : reference, moved };
}
