import { randomUUID } from 'node:crypto';
import type { EventRef } from '../common/events.js';
import type { Logger } from '../common/logger.js';
import { Semaphore } from '../common/semaphore.js';
import { withTimeout } from '../common/timeout.js';
import { classifyMessage } from './classify.js';
import type { ClusterView, ResolvedNode } from './cluster-cache.js';
import {
  type CordonWithoutRedisResult,
  claimFailureCause,
  cordonWithoutRedis,
  describeClaimFailure,
} from './cordon-without-redis.js';
import { claimLeaseMs, type DedupeStore } from './dedupe.js';
import type { JobSink } from './enqueue.js';
import type { ActionableEvent, Classification } from './events/source.js';
import type { ListenerMetrics } from './metrics.js';
import { type NodeEventSink, nodeStory, waitingForRedisStory } from './node-events.js';
import type { NodeTainter } from './node-taint.js';
import { type PodPlan, planNode } from './plan.js';
import type { ClassifyConfig } from './settings.js';
import type { ReceivedMessage } from './sqs-queue.js';

export interface ProcessorConfig extends ClassifyConfig {
  concurrency: number;
  /** A claim lives as long as the message stays invisible. */
  visibilityTimeoutSeconds: number;
  dedupeTtlSeconds: number;
  redisTimeoutMs: number;
  unoptedPods: 'evict' | 'ignore';
  rebalanceMigrateBudgetSeconds: number;
}

/** What to do with a message once it has been worked on. */
export type Disposition =
  | { action: 'delete' }
  | { action: 'dead-letter'; reason: string }
  | {
      action: 'retry';
      reason: string;
      /** The event's deadline (ISO 8601), if it has one: the retry must come back well before it. */
      deadline?: string | undefined;
    };

export type InstanceResult = 'handled' | 'duplicate' | 'unknown-instance' | 'busy' | 'failed';

export interface HandledNode {
  event: ActionableEvent;
  instanceId: string;
  nodeName: string;
  jobs: number;
  receivedAt: Date;
  /** Redis acknowledged the node's jobs. */
  enqueuedAt: Date;
  /** Jobs enqueued, node tainted and cordoned, dedupe marked. */
  doneAt: Date;
  /** Where the time went, in ms: waiting for a slot, dedupe claim, planning, then taint + cordon and enqueue (concurrent). */
  stepsMs: { queued: number; claim: number; plan: number; taint: number; enqueue: number };
}

export interface ProcessorDeps {
  config: ProcessorConfig;
  /** The calls made of the store (DedupeStore in production), so a unit test can hold claims in memory. */
  dedupe: Pick<DedupeStore, 'key' | 'claim' | 'release' | 'markDone'>;
  cluster: ClusterView;
  tainter: NodeTainter;
  sink: JobSink;
  metrics: ListenerMetrics;
  log: Logger;
  /** Events on the Node (received, cordoned, planned); none when absent. */
  nodeEvents?: NodeEventSink;
  /** Called for every node whose jobs Redis acknowledged (benchmarks, tests). */
  onHandled?: (h: HandledNode) => void;
  /**
   * A test seam, never set in production: runs once a node is planned and
   * before its jobs go to Redis, so a test can hold a message there (kill the
   * process, stop it) and see what comes of it.
   */
  beforeEnqueue?: (node: PlannedNode) => Promise<void>;
}

/** A node of an event, planned and not yet enqueued. */
export interface PlannedNode {
  eventId: string;
  kind: ActionableEvent['kind'];
  instanceId: string;
  node: string;
}

/**
 * One SQS message: classify (the same code as `spot-rescue classify`), then
 * for each instance of an actionable event: claim -> resolve node -> plan ->
 * (taint and cordon | enqueue) -> mark done. The message may be deleted only when
 * every instance is handled, a duplicate, or not in this cluster.
 */
export class MessageProcessor {
  /** Dedupe claims held right now (key -> owner), renewed with the messages' visibility. */
  readonly activeClaims = new Map<string, string>();
  private readonly limiter: Semaphore;

  constructor(private readonly d: ProcessorDeps) {
    this.limiter = new Semaphore(d.config.concurrency);
  }

  async process(msg: ReceivedMessage, receivedAt: Date): Promise<Disposition> {
    const { metrics, log, config } = this.d;
    const c: Classification = classifyMessage(msg.body, { now: receivedAt, config });
    const kind = c.outcome === 'act' ? c.event.kind : c.outcome === 'ignore' ? (c.kind ?? 'none') : 'none';
    metrics.events.inc({ kind, outcome: c.outcome });
    if (c.outcome === 'reject') {
      log.warn({ messageId: msg.messageId, reason: c.reason }, 'malformed message; moving it to the DLQ');
      return { action: 'dead-letter', reason: c.reason };
    }
    if (c.outcome === 'ignore') {
      log.info({ messageId: msg.messageId, reason: c.reason }, 'ignoring message');
      return { action: 'delete' };
    }
    const event = c.event;
    for (const field of event.oddFields ?? []) metrics.oddFields.inc({ kind: event.kind, field });
    if (event.deadline) {
      metrics.warningLeft.observe(
        { kind: event.kind },
        (Date.parse(event.deadline) - receivedAt.getTime()) / 1000,
      );
    }
    log.info(
      { messageId: msg.messageId, kind: event.kind, eventId: event.eventId, instanceIds: event.instanceIds },
      'acting on event',
    );
    const results = await Promise.all(
      event.instanceIds.map((id) =>
        this.limiter.run(() => this.handleInstance(event, id, receivedAt, Date.now())),
      ),
    );
    for (const r of results) metrics.instances.inc({ kind: event.kind, result: r });
    const deadline = event.deadline ?? undefined;
    if (results.includes('failed')) return { action: 'retry', reason: 'handling a node failed', deadline };
    if (results.includes('busy'))
      return { action: 'retry', reason: 'another replica is handling it', deadline };
    return { action: 'delete' };
  }

  private plan(
    event: ActionableEvent,
    instanceId: string,
    resolved: ResolvedNode,
    receivedAt: Date,
  ): PodPlan {
    if (event.response === 'cordon') return { jobs: [], skipped: [] };
    const { cluster, config } = this.d;
    const eventRef: EventRef = {
      id: event.eventId,
      kind: event.kind,
      deadline: event.deadline,
      receivedAt: receivedAt.toISOString(),
      eventTime: event.eventTime,
      ...(event.lifecycleAction ? { lifecycleAction: { ...event.lifecycleAction, instanceId } } : {}),
    };
    return planNode({
      event: eventRef,
      node: { name: resolved.name, instanceId, ...(resolved.zone ? { zone: resolved.zone } : {}) },
      pods: cluster.podsOnNode(resolved.name),
      namespaceLabels: (ns) => cluster.namespaceLabels(ns),
      unoptedPods: config.unoptedPods,
      podDeadline:
        event.deadline ??
        new Date(receivedAt.getTime() + config.rebalanceMigrateBudgetSeconds * 1000).toISOString(),
    });
  }

  /**
   * The claim got no answer from Redis, so the rescue waits for the retry;
   * meanwhile the node is tainted and cordoned as a drain would do, so nothing
   * new is scheduled onto it (cordon-without-redis.ts says when). Never
   * throws: the claim's failure is what the message is retried for, and this
   * can only add to it.
   */
  private async cordonWithoutRedis(
    event: ActionableEvent,
    instanceId: string,
    claimError: unknown,
    receivedAt: Date,
  ): Promise<void> {
    const { cluster, tainter, metrics, log } = this.d;
    const ctx = { eventId: event.eventId, kind: event.kind, instanceId };
    try {
      const decision = cordonWithoutRedis(cluster.nodeForInstance(instanceId), cluster.synced());
      if (decision.action === 'none') {
        log.info({ ...ctx, why: decision.why }, 'nothing cordoned without Redis');
        return;
      }
      const { node, name } = decision.node;
      const cause = claimFailureCause(claimError);
      let taint: CordonWithoutRedisResult;
      try {
        taint = await tainter.taintAndCordon(node, event.kind);
      } catch (err) {
        taint = 'failed';
        log.error(
          { ...ctx, node: name, cause, err: String(err) },
          'could not cordon the node without Redis either; the message stays in SQS',
        );
      }
      metrics.cordonsWithoutRedis.inc({ result: taint });
      if (taint === 'failed') return;
      log.warn(
        { ...ctx, node: name, cause, redis: describeClaimFailure(cause), taint, response: event.response },
        'node tainted and cordoned without Redis; the rescue waits for Redis, the message stays in SQS',
      );
      // Once per node: a retry or another replica finds it already so ('unchanged').
      if (taint === 'patched')
        void this.d.nodeEvents?.record(node, waitingForRedisStory(event, receivedAt, cause));
    } catch (err) {
      log.error({ ...ctx, err: String(err) }, 'cordoning without Redis failed');
    }
  }

  private async handleInstance(
    event: ActionableEvent,
    instanceId: string,
    receivedAt: Date,
    queuedAt: number,
  ): Promise<InstanceResult> {
    const t0 = Date.now();
    const { config, dedupe, cluster, tainter, sink, metrics, log } = this.d;
    const ctx = { eventId: event.eventId, kind: event.kind, instanceId };
    const key = dedupe.key(event.eventId, instanceId);
    const owner = randomUUID();
    const redis = <T>(p: Promise<T>, what: string) => withTimeout(p, config.redisTimeoutMs, what);
    try {
      const claim = await redis(
        dedupe.claim(key, owner, claimLeaseMs(config.visibilityTimeoutSeconds)),
        'dedupe claim',
      );
      if (claim === 'done') {
        log.info(ctx, 'already handled; dropping the redelivery');
        return 'duplicate';
      }
      if (claim === 'busy') {
        log.info(ctx, 'being handled elsewhere; will look again');
        return 'busy';
      }
    } catch (err) {
      log.error({ ...ctx, err: String(err) }, 'dedupe claim failed; the message stays in SQS');
      await this.cordonWithoutRedis(event, instanceId, err, receivedAt);
      return 'failed';
    }
    this.activeClaims.set(key, owner);
    const tClaimed = Date.now();
    try {
      const resolved = cluster.nodeForInstance(instanceId);
      if (!resolved && !cluster.synced()) {
        throw new Error('the cluster cache is not synced; cannot tell whether the instance is ours');
      }
      if (!resolved) {
        log.info(ctx, 'instance is not a node of this cluster');
        await redis(dedupe.release(key, owner), 'dedupe release');
        return 'unknown-instance';
      }
      const nodeCtx = { ...ctx, node: resolved.name };
      const plan = this.plan(event, instanceId, resolved, receivedAt);
      const tPlanned = Date.now();
      // Cordoning and enqueuing are independent (workers never pick an interrupted node as a
      // target, and job ids make a retry's re-enqueue a no-op), so neither waits for the other:
      // the rescue starts as soon as Redis has the jobs.
      const cordon = tainter.taintAndCordon(resolved.node, event.kind).then((taint) => {
        log.info({ ...nodeCtx, taint }, 'node tainted and cordoned');
        return Date.now();
      });
      const enqueue = (async () => {
        await this.d.beforeEnqueue?.(nodeCtx);
        if (plan.jobs.length > 0) await redis(sink.enqueue(plan.jobs), 'enqueue');
        return Date.now();
      })();
      const [cordoned, enqueued] = await Promise.allSettled([cordon, enqueue]);
      if (cordoned.status === 'rejected') throw cordoned.reason;
      if (enqueued.status === 'rejected') throw enqueued.reason;
      const enqueuedAt = new Date(enqueued.value);
      const stepsMs = {
        queued: t0 - queuedAt,
        claim: tClaimed - t0,
        plan: tPlanned - tClaimed,
        taint: cordoned.value - tPlanned,
        enqueue: enqueued.value - tPlanned,
      };
      for (const j of plan.jobs) metrics.jobsEnqueued.inc({ queue: j.queue, name: j.name });
      metrics.eventToEnqueue.observe({ kind: event.kind }, (enqueued.value - receivedAt.getTime()) / 1000);
      await redis(dedupe.markDone(key, config.dedupeTtlSeconds * 1000), 'dedupe mark');
      const doneAt = new Date();
      // After the fact and off the critical path: the Events tell the story, they are not the rescue.
      void this.d.nodeEvents?.record(resolved.node, nodeStory(event, plan, receivedAt));
      log.info(
        { ...nodeCtx, jobs: plan.jobs.length, skipped: plan.skipped.length, stepsMs },
        'jobs enqueued',
      );
      this.d.onHandled?.({
        event,
        instanceId,
        nodeName: resolved.name,
        jobs: plan.jobs.length,
        receivedAt,
        enqueuedAt,
        doneAt,
        stepsMs,
      });
      return 'handled';
    } catch (err) {
      log.error({ ...ctx, err: String(err) }, 'handling the node failed; the message stays in SQS');
      await redis(dedupe.release(key, owner), 'dedupe release').catch(() => {});
      return 'failed';
    } finally {
      this.activeClaims.delete(key);
    }
  }
}
