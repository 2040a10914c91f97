/** One finished checkpoint as this node measured it: raw bytes dumped and the time from dump start to stored. */
export interface CheckpointSample {
  bytes: number;
  ms: number;
}

export interface CheckpointEstimateOptions {
  /** Used until this node has measured a checkpoint of its own (bytes per second). */
  assumedBytesPerSec: number;
  /** Freeze, runtime API calls and manifest: the part of a checkpoint that does not grow with memory. */
  overheadMs: number;
  /** How many recent checkpoints the average covers. */
  window?: number;
}

/** Where a throughput figure comes from: this node's own checkpoints, or the configured assumption. */
export type ThroughputBasis = 'measured' | 'assumed';

/**
 * How long a checkpoint of N bytes takes on this node: a fixed overhead plus
 * the bytes at the throughput of the node's recent checkpoints. Measured
 * while other checkpoints shared the node, which is the throughput a queued
 * checkpoint will see. Before any measurement, the configured assumption,
 * which should be on the slow side: a too-fast guess admits pods that are
 * then cut off at their deadline mid-dump.
 *
 * What one checkpoint of B bytes that took T ms proves, whatever the real
 * overhead o (0 <= o <= the assumed overhead O): the bytes moved in T - o ms,
 * so the node's rate lies between B/T and B/(T - O) (unbounded once T <= O).
 * Each sample keeps the assumption if it lies in that interval and otherwise
 * moves it to the nearest end: up to B/T at most (the rate the checkpoint
 * proves even with no overhead at all), down to B/(T - O) (the node is slower
 * than assumed even granting the whole overhead). The window's rate is its
 * bytes over those per-sample times, so large checkpoints, which say the
 * most, weigh the most.
 *
 * Why not the bytes over T - O, as before: in bench:window at 1x the
 * calibration's 32 MiB checkpoints ended in 0.4 to 0.9 s, inside the assumed
 * 1.5 s overhead, so they taught nothing, and the agents planned the burst
 * at the assumed 32 MiB/s while the nodes moved about 130 MiB/s (their real
 * overhead was 0.2 to 0.3 s). Each of those samples proves 35 to 80 MiB/s.
 * And when T - O is small it is mostly noise: 256 MiB stored in 2.2 s with a
 * real overhead of 0.2 s would have read as 366 MiB/s, and admitted a 3.9 GiB
 * pod on a 12 s estimate for a dump that takes 31 s, cut at its deadline.
 * B/T can only be beaten by the node, never by noise in the overhead. Nor a
 * fit of overhead and rate over sizes: a burst's checkpoints are of a few
 * similar sizes, and a least-squares slope over them swings with every
 * sample. The cost is a pessimistic figure while only small checkpoints are
 * known (80 MiB/s for a node that moves 130); the first large one corrects it.
 */
export class CheckpointEstimate {
  private readonly samples: CheckpointSample[] = [];
  private readonly window: number;

  constructor(private readonly o: CheckpointEstimateOptions) {
    this.window = o.window ?? 8;
  }

  observe(sample: CheckpointSample): void {
    if (!Number.isFinite(sample.bytes) || !Number.isFinite(sample.ms) || sample.bytes <= 0) return;
    // A time of 0 ms proves an unbounded rate; no real dump and upload ends within a millisecond.
    if (sample.ms < 1) return;
    this.samples.push(sample);
    if (this.samples.length > this.window) this.samples.shift();
  }

  /** Bytes per second of the recent checkpoints, or the assumption while none contradicted it. */
  get bytesPerSec(): number {
    return this.measuredBytesPerSec() ?? this.o.assumedBytesPerSec;
  }

  /**
   * Where bytesPerSec comes from, for the messages a refused or dropped pod
   * carries and for the worker's budget: an operator who reads "measured"
   * tunes the node, one who reads "assumed" tunes
   * SPOT_RESCUE_AGENT_ASSUMED_CHECKPOINT_MIBPS. Checkpoints that all agreed
   * with the assumption leave it "assumed": they did not set the figure.
   */
  get basis(): ThroughputBasis {
    return this.measuredBytesPerSec() === undefined ? 'assumed' : 'measured';
  }

  get measured(): number {
    return this.samples.length;
  }

  private measuredBytesPerSec(): number | undefined {
    let bytes = 0;
    let ms = 0;
    let moved = false;
    for (const s of this.samples) {
      const assumedMs = (s.bytes / this.o.assumedBytesPerSec) * 1000;
      // The assumption's time for these bytes, within what the sample allows.
      const dataMs = Math.min(s.ms, Math.max(s.ms - this.o.overheadMs, assumedMs));
      moved ||= dataMs !== assumedMs;
      bytes += s.bytes;
      ms += dataMs;
    }
    return moved && ms > 0 ? (bytes / ms) * 1000 : undefined;
  }

  durationMs(bytes: number): number {
    return Math.ceil(this.o.overheadMs + (Math.max(0, bytes) / this.bytesPerSec) * 1000);
  }
}
