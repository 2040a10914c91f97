import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../common/logger.js';
import { claimLeaseMs, type DedupeStore } from './dedupe.js';
import type { ListenerMetrics } from './metrics.js';
import type { Disposition, MessageProcessor } from './processor.js';
import { RECEIVE_BATCH, type ReceivedMessage, type SqsMessageQueue } from './sqs-queue.js';

export interface ReceiveLoopConfig {
  pollers: number;
  maxInFlightMessages: number;
  visibilityTimeoutSeconds: number;
  retryDelaySeconds: number;
}

/** The SQS calls the loop makes (SqsMessageQueue in production), so a unit test can drive it with a fake queue. */
export type MessageQueue = Pick<SqsMessageQueue, 'receive' | 'deleteMany' | 'changeVisibility' | 'sendToDlq'>;

const MAX_RETRY_DELAY_SECONDS = 900;
const RECEIVE_ERROR_BACKOFF_MS = 1000;

/**
 * Keeps several long-polls in flight, hands each message to the processor,
 * and settles it with SQS: delete, dead-letter (send then delete) or retry
 * (visibility set to a back-off). While messages are in flight their
 * visibility and dedupe claims are extended, so slow work is never picked up
 * by a second replica. A settle always lands after any such extend, so an
 * extend never resets a retry's short visibility to the full timeout.
 */
export class ReceiveLoop {
  private stopping = false;
  private readonly abort = new AbortController();
  /** Messages being worked on: what the heartbeat extends, and what counts against maxInFlightMessages. */
  private readonly inFlight = new Map<string, ReceivedMessage>();
  /** The heartbeat's visibility calls still under way; a settle waits for them (see handleBatch). */
  private readonly extending = new Set<Promise<unknown>>();
  private readonly pollers: Promise<void>[] = [];
  private readonly batches = new Set<Promise<void>>();
  private capacityWaiters: (() => void)[] = [];
  private heartbeat: NodeJS.Timeout | undefined;
  /** Last receive succeeded (readiness). */
  sqsHealthy = true;

  constructor(
    private readonly c: ReceiveLoopConfig,
    private readonly queue: MessageQueue,
    private readonly processor: MessageProcessor,
    private readonly dedupe: Pick<DedupeStore, 'renew'>,
    private readonly metrics: ListenerMetrics,
    private readonly log: Logger,
  ) {}

  start(): void {
    const everyMs = Math.max(500, (this.c.visibilityTimeoutSeconds * 1000) / 3);
    this.heartbeat = setInterval(() => void this.extend(), everyMs);
    for (let i = 0; i < this.c.pollers; i++) this.pollers.push(this.poll(i));
  }

  /** Stops receiving, lets in-flight messages finish and settle, then resolves. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.abort.abort();
    for (const w of this.capacityWaiters) w();
    this.capacityWaiters = [];
    await Promise.all(this.pollers);
    while (this.batches.size > 0) await Promise.all([...this.batches]);
    clearInterval(this.heartbeat);
  }

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  private async poll(index: number): Promise<void> {
    while (!this.stopping) {
      if (this.inFlight.size + RECEIVE_BATCH > this.c.maxInFlightMessages) {
        await new Promise<void>((r) => this.capacityWaiters.push(r));
        continue;
      }
      let messages: ReceivedMessage[];
      try {
        messages = await this.queue.receive(this.abort.signal);
        this.sqsHealthy = true;
      } catch (err) {
        if (this.stopping) break;
        this.sqsHealthy = false;
        this.metrics.sqsErrors.inc({ operation: 'receive' });
        this.log.error({ poller: index, err: String(err) }, 'receive failed');
        await sleep(RECEIVE_ERROR_BACKOFF_MS);
        continue;
      }
      if (messages.length === 0) continue;
      for (const m of messages) this.inFlight.set(m.receiptHandle, m);
      const batch = this.handleBatch(messages).finally(() => {
        this.batches.delete(batch);
        for (const m of messages) this.inFlight.delete(m.receiptHandle);
        const waiters = this.capacityWaiters;
        this.capacityWaiters = [];
        for (const w of waiters) w();
      });
      this.batches.add(batch);
    }
  }

  private async handleBatch(messages: ReceivedMessage[]): Promise<void> {
    const receivedAt = new Date();
    const settled = await Promise.all(
      messages.map(async (m) => {
        let d: Disposition;
        try {
          d = await this.processor.process(m, receivedAt);
        } catch (err) {
          this.log.error({ messageId: m.messageId, err: String(err) }, 'processing failed');
          d = { action: 'retry', reason: String(err) };
        }
        return { m, d };
      }),
    );
    const toDelete: string[] = [];
    const toRetry: { receiptHandle: string; seconds: number }[] = [];
    for (const { m, d } of settled) {
      if (d.action === 'delete') toDelete.push(m.receiptHandle);
      else if (d.action === 'retry')
        toRetry.push({ receiptHandle: m.receiptHandle, seconds: this.retryDelay(m, d.deadline) });
      else {
        try {
          await this.queue.sendToDlq(m, d.reason);
          this.metrics.dlqSends.inc();
          toDelete.push(m.receiptHandle);
        } catch (err) {
          // Not deleted: it comes back after its visibility timeout and is dead-lettered then.
          this.metrics.sqsErrors.inc({ operation: 'dlq-send' });
          this.log.error({ messageId: m.messageId, err: String(err) }, 'DLQ send failed; message kept');
        }
      }
    }
    // A settle must land after any extend that carries these messages: an extend landing after a
    // retry's short visibility resets it to the full timeout (an urgent Spot warning was seen to
    // come back after 3.4 s instead of 1 s). So the messages leave the heartbeat's set first, and
    // only then are the extends already sent awaited; any extend started later no longer names them.
    // Both steps run in one tick, as extend's snapshot and send do, so the two cannot interleave.
    // Not before the dead-letter sends above: until then the heartbeat keeps the messages hidden.
    for (const m of messages) this.inFlight.delete(m.receiptHandle);
    await Promise.all(this.extending);
    // Keep them invisible until settled; a failed settle call only means SQS hands them out again.
    await Promise.all([
      toDelete.length > 0 &&
        this.queue.deleteMany(toDelete).catch((err) => {
          this.metrics.sqsErrors.inc({ operation: 'delete' });
          this.log.error({ err: String(err) }, 'delete failed; the messages will be redelivered and deduped');
        }),
      toRetry.length > 0 &&
        this.queue.changeVisibility(toRetry).catch((err) => {
          this.metrics.sqsErrors.inc({ operation: 'change-visibility' });
          this.log.warn({ err: String(err) }, 'could not shorten visibility for a retry');
        }),
    ]);
  }

  /**
   * Doubling per receive, but an event with a deadline ahead comes back
   * within a quarter of the time it has left (1 s at least): a Spot warning
   * that arrived during a five-minute Redis outage had backed off to 320 s
   * and would only have been handled long after its instance was gone.
   */
  private retryDelay(m: ReceivedMessage, deadline?: string): number {
    const n = Math.max(0, m.receiveCount - 1);
    const backoff = Math.min(MAX_RETRY_DELAY_SECONDS, this.c.retryDelaySeconds * 2 ** Math.min(n, 10));
    const leftSeconds = deadline === undefined ? Number.NaN : (Date.parse(deadline) - Date.now()) / 1000;
    if (!(leftSeconds > 0)) return backoff;
    return Math.min(backoff, Math.max(1, Math.floor(leftSeconds / 4)));
  }

  /** Pushes the visibility of every in-flight message, and the lease of every claim, a full timeout ahead. */
  private async extend(): Promise<void> {
    const seconds = this.c.visibilityTimeoutSeconds;
    const messages = [...this.inFlight.values()];
    const claims = [...this.processor.activeClaims];
    let visibility: Promise<unknown> | undefined;
    if (messages.length > 0) {
      const call: Promise<unknown> = this.queue
        .changeVisibility(messages.map((m) => ({ receiptHandle: m.receiptHandle, seconds })))
        .catch((err) => {
          this.metrics.sqsErrors.inc({ operation: 'change-visibility' });
          this.log.warn({ err: String(err) }, 'could not extend visibility');
        })
        .finally(() => this.extending.delete(call));
      // Added in the tick that took the snapshot, so a settle that follows it waits for this call.
      this.extending.add(call);
      visibility = call;
    }
    await Promise.all([
      visibility,
      ...claims.map(([key, owner]) =>
        this.dedupe.renew(key, owner, claimLeaseMs(seconds)).catch(() => false),
      ),
    ]);
  }
}
