import type { CoreV1Api, V1Node, V1Pod } from '@kubernetes/client-node';
import { Counter, type Registry } from 'prom-client';
import { NODE_EVENT_REASONS } from '../common/event-reasons.js';
import type { EventKind } from '../common/events.js';
import { EVENT_KINDS } from '../common/events.js';
import { QUEUES } from '../common/jobs.js';
import { TAINT_KEY } from '../common/labels.js';
import type { Logger } from '../common/logger.js';
import { parseProviderId } from '../common/provider-id.js';
import { type Redis, scanTargets } from '../common/redis.js';
import { withTimeout } from '../common/timeout.js';
import type { ClusterView } from './cluster-cache.js';
import type { JobSink } from './enqueue.js';
import type { NodeEventSink } from './node-events.js';
import { optedIn, type PlannedJob, planNode, skipReason } from './plan.js';

/**
 * The listener deletes an SQS message once Redis has acknowledged its jobs.
 * A Redis that then loses them (a restart without AOF, a failover to a
 * replica that had not caught up) leaves a tainted, cordoned node whose pods
 * nobody rescues or drains. This reconcile finds such pods and plans them
 * again through the same planNode and sink as an event would.
 */

export interface TaintedNode {
  name: string;
  uid: string;
  instanceId: string;
  zone?: string;
  kind: EventKind;
  node: V1Node;
}

/** Nodes carrying the spot-rescue taint (they are cordoned too, so only cordoned nodes are listed). */
export interface TaintedNodeSource {
  taintedNodes(): Promise<TaintedNode[]>;
}

/** Which pods have a rescue or evict job in Redis, whatever its state. */
export interface PodJobIndex {
  podUidsWithJobs(): Promise<Set<string>>;
}

export function taintedNodeOf(node: V1Node): TaintedNode | undefined {
  const taint = node.spec?.taints?.find((t) => t.key === TAINT_KEY && t.effect === 'NoSchedule');
  const kind = EVENT_KINDS.find((k) => k === taint?.value);
  const provider = parseProviderId(node.spec?.providerID);
  const name = node.metadata?.name;
  const uid = node.metadata?.uid;
  if (!kind || !provider || !name || !uid) return undefined;
  return {
    name,
    uid,
    instanceId: provider.instanceId,
    ...(provider.zone ? { zone: provider.zone } : {}),
    kind,
    node,
  };
}

export class KubeTaintedNodes implements TaintedNodeSource {
  constructor(private readonly core: CoreV1Api) {}

  async taintedNodes(): Promise<TaintedNode[]> {
    // The taint cannot be selected on server-side; cordoning can, and the listener always does both.
    const list = await this.core.listNode({ fieldSelector: 'spec.unschedulable=true' });
    return list.items.map(taintedNodeOf).filter((n): n is TaintedNode => n !== undefined);
  }
}

/** The pod uid a job id ends with (`<kind>__<event>__<pod uid>`, see common/jobs.ts). */
export function podUidOfJobId(id: string): string | undefined {
  const i = id.lastIndexOf('__');
  return i > 0 ? id.slice(i + 2) || undefined : undefined;
}

const SCAN_COUNT = 1000;

/**
 * Reads BullMQ's job hashes (`<prefix>:<queue>:<job id>`) by key, so every
 * state counts (waiting, prioritized, active, delayed, completed, failed)
 * and nothing needs loading. Only runs when a tainted node holds pods.
 */
export class RedisPodJobIndex implements PodJobIndex {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  async podUidsWithJobs(): Promise<Set<string>> {
    const uids = new Set<string>();
    for (const [queue, server] of [QUEUES.rescue, QUEUES.evict].flatMap((q) =>
      scanTargets(this.redis).map((s) => [q, s] as const),
    )) {
      const base = `${this.prefix}:${queue}:`;
      let cursor = '0';
      do {
        const [next, keys] = await server.scan(cursor, 'MATCH', `${globEscape(base)}*`, 'COUNT', SCAN_COUNT);
        cursor = next;
        for (const key of keys) {
          const rest = key.slice(base.length);
          // Job ids hold no ':'; longer keys are a job's lock or logs, or the queue's own sets.
          if (rest.includes(':')) continue;
          const uid = podUidOfJobId(rest);
          if (uid) uids.add(uid);
        }
      } while (cursor !== '0');
    }
    return uids;
  }
}

const globEscape = (s: string) => s.replace(/[*?[\]\\]/g, '\\$&');

export interface ReplanPolicy {
  unoptedPods: 'evict' | 'ignore';
  rebalancePolicy: 'ignore' | 'cordon' | 'migrate';
}

/** Pods of a tainted node that an event would have planned a job for. */
export function plannablePods(
  node: TaintedNode,
  pods: readonly V1Pod[],
  namespaceLabels: (ns: string) => Readonly<Record<string, string>> | undefined,
  policy: ReplanPolicy,
): V1Pod[] {
  // A cordon-only node never had pod jobs to lose.
  if (node.kind === 'rebalance-recommendation' && policy.rebalancePolicy !== 'migrate') return [];
  return pods.filter(
    (p) =>
      p.metadata?.uid &&
      skipReason(p) === undefined &&
      (policy.unoptedPods === 'evict' || optedIn(p, namespaceLabels)),
  );
}

export interface ReplanConfig extends ReplanPolicy {
  /** Deadline given to re-planned pods: the event's own went with the lost jobs. */
  replanBudgetSeconds: number;
  rebalanceMigrateBudgetSeconds: number;
  redisTimeoutMs: number;
}

export type ReplanMetrics = ReturnType<typeof createReplanMetrics>;

export function createReplanMetrics(registry: Registry) {
  return {
    passes: new Counter({
      name: 'spot_rescue_listener_replan_passes_total',
      help: 'Passes over the tainted nodes looking for pods whose jobs Redis lost, by result (ok, failed)',
      labelNames: ['result'],
      registers: [registry],
    }),
    replanned: new Counter({
      name: 'spot_rescue_listener_replanned_pods_total',
      help: 'Pods of tainted nodes planned again because Redis had no job for them on two passes in a row, by event kind',
      labelNames: ['kind'],
      registers: [registry],
    }),
  };
}

export interface ReplanDeps {
  config: ReplanConfig;
  metrics: ReplanMetrics;
  nodes: TaintedNodeSource;
  jobs: PodJobIndex;
  cluster: ClusterView;
  sink: JobSink;
  /** Where the re-plan is told on the Node, beside the listener's own story of it. */
  events?: NodeEventSink;
  log: Logger;
  now?: () => number;
}

export interface ReplanPass {
  taintedNodes: number;
  /** Pods without a job this pass, confirmed or not. */
  jobless: number;
  replanned: { node: string; pods: number }[];
}

/**
 * One pass of the reconcile. A pod is re-planned only when it was jobless on
 * the previous pass too: the listener taints a node and enqueues its jobs
 * concurrently, so a single look can fall between the two.
 */
export class TaintedNodeReplanner {
  private suspects = new Set<string>();

  constructor(private readonly d: ReplanDeps) {}

  async pass(): Promise<ReplanPass> {
    const { cluster, config, log } = this.d;
    const now = this.d.now?.() ?? Date.now();
    const nodes = await this.d.nodes.taintedNodes();
    const candidates = nodes
      .map((node) => ({
        node,
        pods: plannablePods(node, cluster.podsOnNode(node.name), (ns) => cluster.namespaceLabels(ns), config),
      }))
      .filter((c) => c.pods.length > 0);
    if (candidates.length === 0) {
      this.suspects = new Set();
      return { taintedNodes: nodes.length, jobless: 0, replanned: [] };
    }
    const withJobs = await withTimeout(this.d.jobs.podUidsWithJobs(), config.redisTimeoutMs * 4, 'job scan');
    const suspects = new Set<string>();
    const replanned: ReplanPass['replanned'] = [];
    let jobless = 0;
    for (const { node, pods } of candidates) {
      const missing = pods.filter((p) => !withJobs.has(p.metadata?.uid as string));
      jobless += missing.length;
      for (const p of missing) suspects.add(p.metadata?.uid as string);
      const confirmed = missing.filter((p) => this.suspects.has(p.metadata?.uid as string));
      if (confirmed.length === 0) continue;
      const jobs = replanJobs(node, confirmed, cluster, config, now);
      await withTimeout(this.d.sink.enqueue(jobs), config.redisTimeoutMs, 'enqueue');
      this.d.metrics.replanned.inc({ kind: node.kind }, confirmed.length);
      log.warn(
        {
          node: node.name,
          kind: node.kind,
          pods: confirmed.map((p) => `${p.metadata?.namespace}/${p.metadata?.name}`),
        },
        'tainted node has pods without jobs (Redis lost them); planned them again',
      );
      const migrate = jobs.filter((j) => j.name === 'migrate-pod').length;
      const evict = jobs.filter((j) => j.name === 'evict-pod').length;
      // Best effort, and not awaited: an Event never holds up the next node's re-plan.
      void this.d.events?.record(node.node, [
        {
          type: 'Warning',
          reason: NODE_EVENT_REASONS.rescuePlanned,
          action: 'Replan',
          note: `${confirmed.length} pods had no job in Redis (lost in a restart or failover) and were planned again: ${migrate} to migrate, ${evict} to evict`,
        },
      ]);
      replanned.push({ node: node.name, pods: confirmed.length });
    }
    this.suspects = suspects;
    return { taintedNodes: nodes.length, jobless, replanned };
  }
}

/**
 * The jobs an event would have produced for these pods. The event id is the
 * node's: every replica and every later pass maps the same pod to the same
 * job id, so a re-plan is enqueued once however many look.
 */
export function replanJobs(
  node: TaintedNode,
  pods: readonly V1Pod[],
  cluster: Pick<ClusterView, 'namespaceLabels'>,
  config: ReplanConfig,
  now: number,
): PlannedJob[] {
  const deadline =
    node.kind === 'rebalance-recommendation'
      ? null
      : new Date(now + config.replanBudgetSeconds * 1000).toISOString();
  const at = new Date(now).toISOString();
  return planNode({
    event: { id: `replan-${node.uid}`, kind: node.kind, deadline, receivedAt: at, eventTime: at },
    node: { name: node.name, instanceId: node.instanceId, ...(node.zone ? { zone: node.zone } : {}) },
    pods,
    namespaceLabels: (ns) => cluster.namespaceLabels(ns),
    unoptedPods: config.unoptedPods,
    podDeadline: deadline ?? new Date(now + config.rebalanceMigrateBudgetSeconds * 1000).toISOString(),
    now,
  }).jobs;
}

/** Runs passes every `intervalMs` until stopped; a failed pass is logged and the next one tries again. */
export function startReplanLoop(
  replanner: TaintedNodeReplanner,
  intervalMs: number,
  metrics: ReplanMetrics,
  log: Logger,
) {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;
  const tick = () => {
    running = replanner
      .pass()
      .then((r) => {
        metrics.passes.inc({ result: 'ok' });
        if (r.jobless > 0) log.info(r, 're-plan pass');
      })
      .catch((err) => {
        metrics.passes.inc({ result: 'failed' });
        log.warn({ err: String(err) }, 're-plan pass failed; next pass retries');
      })
      .finally(() => {
        running = undefined;
        if (!stopped) timer = setTimeout(tick, intervalMs);
      });
  };
  timer = setTimeout(tick, intervalMs);
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
