import { throwIfAborted } from './deadline.js';

/**
 * At most `limit` checkpoints dump and upload at once on a node. A warning
 * sends every opted-in pod of the node together; dumping them all at once
 * splits the node's CPU and bandwidth so that none finishes early, and keeps
 * every process frozen for the length of the whole burst. A queued
 * checkpoint's process keeps running until its turn, and the wait gives up
 * when the checkpoint's deadline fires. Turns are handed out in arrival
 * order, which the worker sets: smallest pods first.
 */
export class CheckpointSlots {
  private active = 0;
  private readonly queue: (() => void)[] = [];

  constructor(
    private readonly limit: number,
    private readonly onChange: (state: { active: number; waiting: number }) => void = () => {},
  ) {}

  /** Resolves with a release function once a slot is free; rejects with the signal's reason if it fires first. */
  async acquire(signal: AbortSignal): Promise<() => void> {
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
      const abandon = () => {
        this.queue.splice(this.queue.indexOf(grant), 1);
        this.changed();
        reject(signal.reason);
      };
      signal.addEventListener('abort', abandon, { once: true });
      this.queue.push(grant);
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
      if (next) next();
      else this.active--;
      this.changed();
    };
  }

  private changed(): void {
    this.onChange({ active: this.active, waiting: this.queue.length });
  }
}
