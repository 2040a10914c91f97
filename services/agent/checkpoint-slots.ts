import { Semaphore } from '../common/semaphore.js';
import { throwIfAborted } from './deadline.js';

/**
 * At most `limit` checkpoints dump and upload at once on a node. A warning
 * sends every opted-in pod of the node together; dumping them all at once
 * splits the node's CPU and bandwidth so that none finishes early, and keeps
 * every process frozen for the length of the whole burst. A queued
 * checkpoint's process keeps running until its turn, and the wait gives up
 * when the checkpoint's deadline fires (or the admission plan drops it).
 * Turns go by rank (see checkpoint-plan.ts), then in arrival order.
 */
export class CheckpointSlots extends Semaphore {
  /** Resolves with a release function once a slot is free; rejects with the signal's reason if it fires first. */
  override async acquire(signal: AbortSignal, rank: number[] = []): Promise<() => void> {
    // A deadline that already passed is told as the agent tells it (deadline-exceeded).
    throwIfAborted(signal);
    return super.acquire(signal, rank);
  }
}
