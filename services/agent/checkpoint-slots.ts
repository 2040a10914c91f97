import { throwIfAborted } from './deadline.js';

/**
 * At most `limit` checkpoints dump and upload at once on a node. A warning
 * sends every opted-in pod of the node together; dumping them all at once
 * splits the node's CPU and bandwidth so that none finishes early, and keeps
 * every process frozen for the length of the whole burst. A queued
 * checkpoint's process keeps running until its turn, and the wait gives up
 * when the checkpoint's deadline fires (or the admission plan drops it).
 * Turns go by rank (compared element by element, lowest first; see
 * checkpoint-plan.ts), then in arrival order; an unranked waiter goes after
 * every ranked one.
 */
export class CheckpointSlots {
  private active = 0;
  private readonly queue: { rank: number[]; grant: () => void }[] = [];

  constructor(
    private readonly limit: number,
    private readonly onChange: (state: { active: number; waiting: number }) => void = () => {},
  ) {}

  /** Checkpoints that may run at once. */
  get size(): number {
    return this.limit;
  }

  /** Resolves with a release function once a slot is free; rejects with the signal's reason if it fires first. */
  async acquire(signal: AbortSignal, rank: number[] = []): Promise<() => void> {
    throwIfAborted(signal);
    if (this.active < this.limit) {
      this.active++;
      this.changed();
      return this.releaser();
    }
    await new Promise<void>((resolve, reject) => {
      const grant = () => {
        signal.removeEventListener('abort', abandon);
        resolve();
      };
      const place = { rank, grant };
      const abandon = () => {
        this.queue.splice(this.queue.indexOf(place), 1);
        this.changed();
        reject(signal.reason);
      };
      signal.addEventListener('abort', abandon, { once: true });
      const after = this.queue.findIndex((w) => compareRanks(w.rank, rank) > 0);
      this.queue.splice(after === -1 ? this.queue.length : after, 0, place);
      this.changed();
    });
    return this.releaser();
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.queue.shift();
      // The slot passes straight to the next in line, so `active` only drops when nobody waits.
      if (next) next.grant();
      else this.active--;
      this.changed();
    };
  }

  private changed(): void {
    this.onChange({ active: this.active, waiting: this.queue.length });
  }
}

function compareRanks(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? Number.POSITIVE_INFINITY) - (b[i] ?? Number.POSITIVE_INFINITY);
    if (d !== 0 && !Number.isNaN(d)) return d;
  }
  return 0;
}
