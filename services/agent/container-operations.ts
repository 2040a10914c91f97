import { AgentFailure } from './errors.js';

export type Operation = 'checkpoint' | 'restore' | 'release';

/**
 * One operation per container at a time. Two migrations of one pod (a Spot
 * warning and an ASG lifecycle event for the same node) must not interleave
 * on the node: one job's rollback would thaw what the other froze. The
 * second caller gets 409 `conflict` and decides (the worker holds the lease).
 */
export class ContainerOperations {
  private readonly held = new Map<string, Operation>();
  /** Containers whose abandoned dump may still land (see LateDumpJanitor): no new checkpoint until it settles. */
  private readonly lingering = new Map<string, Promise<void>>();

  /** Takes every key or none; returns the release function. */
  acquire(keys: string[], operation: Operation): () => void {
    for (const key of keys) {
      const busy = this.held.get(key);
      if (busy)
        throw new AgentFailure('conflict', `${key}: a ${busy} is in progress; try again once it ended`);
      if (operation === 'checkpoint' && this.lingering.has(key)) {
        throw new AgentFailure(
          'conflict',
          `${key}: an abandoned checkpoint may still be dumping on the node; try again once it settled`,
        );
      }
    }
    for (const key of keys) this.held.set(key, operation);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      for (const key of keys) this.held.delete(key);
    };
  }

  /** Keeps new checkpoints of `key` out until `settled` resolves (or rejects). */
  linger(key: string, settled: Promise<void>): void {
    const done = settled
      .catch(() => {})
      .finally(() => {
        if (this.lingering.get(key) === done) this.lingering.delete(key);
      });
    this.lingering.set(key, done);
  }

  /** For tests and shutdown: resolves once every lingering cleanup ended. */
  async settled(): Promise<void> {
    await Promise.all(this.lingering.values());
  }
}
