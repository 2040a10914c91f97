/**
 * At most `limit` holders at once. Turns go by rank (compared element by
 * element, lowest first), then in arrival order, so unranked waiters are
 * served first come, first served and an unranked waiter goes after every
 * ranked one. A released turn passes straight to the next in line, so no
 * newcomer slips in between. A waiter whose signal fires leaves the line
 * with the signal's reason.
 */
export class Semaphore {
  private active = 0;
  private readonly queue: { rank: number[]; grant: () => void }[] = [];

  constructor(
    private readonly limit: number,
    private readonly onChange: (state: { active: number; waiting: number }) => void = () => {},
  ) {}

  /** How many may hold it at once. */
  get size(): number {
    return this.limit;
  }

  /** Resolves with a release function once a turn is free; rejects with the signal's reason if it fires first. */
  async acquire(signal?: AbortSignal, rank: number[] = []): Promise<() => void> {
    signal?.throwIfAborted();
    if (this.active < this.limit) {
      this.active++;
      this.changed();
      return this.releaser();
    }
    await new Promise<void>((resolve, reject) => {
      const grant = () => {
        signal?.removeEventListener('abort', abandon);
        resolve();
      };
      const place = { rank, grant };
      const abandon = () => {
        this.queue.splice(this.queue.indexOf(place), 1);
        this.changed();
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', abandon, { once: true });
      const after = this.queue.findIndex((w) => compareRanks(w.rank, rank) > 0);
      this.queue.splice(after === -1 ? this.queue.length : after, 0, place);
      this.changed();
    });
    return this.releaser();
  }

  /** Runs `task` in a turn, waiting for one in line. */
  async run<T>(task: () => Promise<T>): Promise<T> {
    const release = await this.acquire();
    try {
      return await task();
    } finally {
      release();
    }
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.queue.shift();
      // The turn passes straight to the next in line, so `active` only drops when nobody waits.
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
