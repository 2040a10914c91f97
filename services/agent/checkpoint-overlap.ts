/** One checkpoint's hold on the node: when it ran and how many bytes it dumps (undefined: not known). */
interface Held {
  start: number;
  end?: number | undefined;
  bytes?: number | undefined;
}

/**
 * Which checkpoints ran on this node when, and their sizes, so a
 * checkpoint's timing can be bounded by what its neighbours can have moved
 * rather than read as a fair share of the node (ConcurrencyTimeline).
 *
 * Why shares are not enough: the dumps share the CPU, but the uploads share
 * the link per TCP connection, not per checkpoint. An archive small enough
 * for one part goes over one connection while a large one beside it keeps
 * several parts in flight, so it gets far less than half. In bench:window at
 * 0.8x a 101 MiB checkpoint took 14.0 s beside a 506 MiB one; read as half
 * the node it proved 14.4 MiB/s where the node moved about 27, pulled the
 * node's rate from 23.3 to 19.6 MiB/s, and an accepted 842 MiB pod was
 * dropped. Whatever the split, the node moved no more than the checkpoint's
 * own bytes and every overlapping one's whole size in that time: a sound
 * bound, which is what othersBytes gives.
 */
export class CheckpointOverlap {
  private readonly held = new Map<string, Held>();

  constructor(
    private readonly now: () => number = Date.now,
    /** How long an ended checkpoint is remembered: longer than any checkpoint runs (one is cut at its warning's end). */
    private readonly keepMs = 600_000,
  ) {}

  /** It took a slot now; `bytes`: its memory size, if the caller gave one. */
  started(id: string, bytes?: number): void {
    this.forgetOld();
    this.held.set(id, { start: this.now(), bytes });
  }

  /** It ended now; `bytes`: the raw bytes it dumped, when it stored them (otherwise its size stays as given). */
  ended(id: string, bytes?: number): void {
    const h = this.held.get(id);
    if (!h || h.end !== undefined) return;
    h.end = this.now();
    if (bytes !== undefined) h.bytes = bytes;
  }

  /**
   * The bytes of every other checkpoint that ran at some point between
   * `from` and `to` (epoch ms), each counted whole; undefined if one of
   * them has no known size, and then nothing bounds what the node moved.
   */
  othersBytes(id: string, from: number, to: number): number | undefined {
    let sum = 0;
    for (const [other, h] of this.held) {
      if (other === id || h.start >= to || (h.end !== undefined && h.end <= from)) continue;
      if (h.bytes === undefined) return undefined;
      sum += h.bytes;
    }
    return sum;
  }

  private forgetOld(): void {
    const before = this.now() - this.keepMs;
    for (const [id, h] of this.held) if (h.end !== undefined && h.end < before) this.held.delete(id);
  }
}
