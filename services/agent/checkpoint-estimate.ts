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

/**
 * How long a checkpoint of N bytes takes on this node: a fixed overhead plus
 * the bytes at the throughput of the node's recent checkpoints (their bytes
 * over their time less the overhead, so small dumps, mostly overhead, weigh
 * little). Measured while other checkpoints shared the node, which is the
 * throughput a queued checkpoint will see. Before any measurement, the
 * configured assumption, which should be on the slow side: a too-fast guess
 * admits pods that are then cut off at their deadline mid-dump.
 */
export class CheckpointEstimate {
  private readonly samples: CheckpointSample[] = [];
  private readonly window: number;

  constructor(private readonly o: CheckpointEstimateOptions) {
    this.window = o.window ?? 8;
  }

  observe(sample: CheckpointSample): void {
    if (!Number.isFinite(sample.bytes) || !Number.isFinite(sample.ms) || sample.bytes <= 0) return;
    this.samples.push(sample);
    if (this.samples.length > this.window) this.samples.shift();
  }

  /** Bytes per second of the recent checkpoints, or the assumption while none carried any bytes in time. */
  get bytesPerSec(): number {
    return this.measuredBytesPerSec() ?? this.o.assumedBytesPerSec;
  }

  /**
   * Where bytesPerSec comes from, for the messages a refused or dropped pod
   * carries: an operator who reads "measured" tunes the node, one who reads
   * "assumed" tunes SPOT_RESCUE_AGENT_ASSUMED_CHECKPOINT_MIBPS.
   */
  get basis(): 'measured' | 'assumed' {
    return this.measuredBytesPerSec() === undefined ? 'assumed' : 'measured';
  }

  get measured(): number {
    return this.samples.length;
  }

  private measuredBytesPerSec(): number | undefined {
    let bytes = 0;
    let ms = 0;
    for (const s of this.samples) {
      bytes += s.bytes;
      ms += Math.max(0, s.ms - this.o.overheadMs);
    }
    // A window of dumps that all finished within the overhead says only that they were small.
    return ms <= 0 ? undefined : (bytes / ms) * 1000;
  }

  durationMs(bytes: number): number {
    return Math.ceil(this.o.overheadMs + (Math.max(0, bytes) / this.bytesPerSec) * 1000);
  }
}
