/**
 * The message processor and the receive loop that settles its messages,
 * driven as Karpenter's interruption suite drives its controller: the real
 * sample events go into a fake SQS queue, the real loop and processor run
 * over in-memory fakes of Redis (dedupe claims, job queues), the API server
 * (taints) and the informer cache, with the clock held at one instant, and
 * each test checks what they did: nodes tainted, jobs enqueued with their
 * production options, messages deleted, dead-lettered or left for redelivery.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import type { JobsOptions } from 'bullmq';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { NODE_EVENT_REASONS } from '../../../services/common/event-reasons.js';
import type { EventKind } from '../../../services/common/events.js';
import { jobOptions } from '../../../services/common/jobs.js';
import { MIGRATE_ANNOTATION, NAMESPACE_OPT_IN_LABEL } from '../../../services/common/labels.js';
import { parseProviderId } from '../../../services/common/provider-id.js';
import type { ClusterView, ResolvedNode } from '../../../services/listener/cluster-cache.js';
import type { ClaimResult } from '../../../services/listener/dedupe.js';
import type { JobSink } from '../../../services/listener/enqueue.js';
import { createListenerMetrics } from '../../../services/listener/metrics.js';
import type { NodeEvent, NodeEventSink } from '../../../services/listener/node-events.js';
import type { NodeTainter } from '../../../services/listener/node-taint.js';
import type { PlannedJob } from '../../../services/listener/plan.js';
import { MessageProcessor, type ProcessorConfig } from '../../../services/listener/processor.js';
import {
  type MessageQueue,
  ReceiveLoop,
  type ReceiveLoopConfig,
} from '../../../services/listener/receive-loop.js';
import { RECEIVE_BATCH, type ReceivedMessage } from '../../../services/listener/sqs-queue.js';

const fixture = (name: string) =>
  readFileSync(new URL(`../../fixtures/events/${name}`, import.meta.url), 'utf8');

/** The instant every message is received at: 30 s after the sample events' time. */
const NOW = Date.parse('2026-09-01T12:00:30.000Z');
const INSTANCE = 'i-0abc123def4567890';
const NODE = 'spot-a';
const ALARM_TOPIC = 'arn:aws:sns:us-east-1:111122223333:spot-rescue-alarms';

const CONFIG: ProcessorConfig & ReceiveLoopConfig = {
  rebalancePolicy: 'cordon',
  asgHeartbeatTimeoutSeconds: 300,
  cloudwatchBudgetSeconds: 120,
  snsTopicArns: [],
  maxMessageBytes: 256 * 1024,
  concurrency: 4,
  // Long enough that the loop's visibility heartbeat never fires while a test runs: every
  // visibility change a test sees is the loop settling a message for a retry.
  visibilityTimeoutSeconds: 60,
  dedupeTtlSeconds: 86_400,
  redisTimeoutMs: 5000,
  unoptedPods: 'evict',
  rebalanceMigrateBudgetSeconds: 600,
  pollers: 1,
  maxInFlightMessages: 100,
  retryDelaySeconds: 5,
};

// ---------------------------------------------------------------------------------------------
// Fakes

interface QueuedMessage {
  messageId: string;
  body: string;
  receiveCount: number;
  state: 'visible' | 'in-flight' | 'deleted';
  receiptHandle?: string;
  /** The visibility timeout last set on it while in flight (a retry's back-off), in seconds. */
  visibilitySeconds?: number;
  /** Every visibility timeout set on it, in the order SQS applied them. */
  visibilityChanges: number[];
}

/** A promise and the function that settles it, so a test can hold a fake's call and let it go. */
function deferred(): { promise: Promise<void>; release: () => void } {
  let release = () => {};
  const promise = new Promise<void>((resolve) => {
    release = resolve;
  });
  return { promise, release };
}

/**
 * An SQS queue and its DLQ in memory. A receive hands out what is visible
 * (a new receipt handle each time, the receive count going up) or waits, as
 * a long poll does, until something is or the poll is aborted. Visibility
 * timeouts do not run out by themselves: `redeliver()` is that moment.
 */
class FakeSqs implements MessageQueue {
  private readonly messages: QueuedMessage[] = [];
  readonly dlq: { body: string; reason: string; sourceMessageId: string }[] = [];
  /** Errors the next calls of that kind throw, one each. */
  readonly failNext: { deleteMany: Error[]; sendToDlq: Error[] } = { deleteMany: [], sendToDlq: [] };
  /** Visibility calls that wait for their promise before SQS applies them (one each), as a slow request does. */
  readonly holdChangeVisibility: Promise<void>[] = [];
  private handles = 0;
  private wake: (() => void) | undefined;
  private noneVisible: (() => void)[] = [];

  send(body: string, messageId = `m-${this.messages.length + 1}`): string {
    this.messages.push({ messageId, body, receiveCount: 0, state: 'visible', visibilityChanges: [] });
    this.wake?.();
    return messageId;
  }

  message(id: string): QueuedMessage {
    const m = this.messages.find((x) => x.messageId === id);
    assert.ok(m, `no message ${id}`);
    return m;
  }

  /** Messages still in the queue (visible or in flight). */
  get remaining(): QueuedMessage[] {
    return this.messages.filter((m) => m.state !== 'deleted');
  }

  /** Resolves once every message has been handed out (none visible). */
  untilNoneVisible(): Promise<void> {
    if (!this.messages.some((m) => m.state === 'visible')) return Promise.resolve();
    return new Promise((resolve) => this.noneVisible.push(resolve));
  }

  /** Every visibility timeout runs out: what was received and not deleted is visible again. */
  redeliver(): void {
    for (const m of this.messages) {
      if (m.state !== 'in-flight') continue;
      m.state = 'visible';
      delete m.visibilitySeconds;
    }
    this.wake?.();
  }

  async receive(signal: AbortSignal): Promise<ReceivedMessage[]> {
    for (;;) {
      if (signal.aborted) throw new DOMException('the long poll was aborted', 'AbortError');
      const visible = this.messages.filter((m) => m.state === 'visible').slice(0, RECEIVE_BATCH);
      if (visible.length > 0) {
        for (const m of visible) {
          m.state = 'in-flight';
          m.receiveCount++;
          m.receiptHandle = `rh-${++this.handles}`;
        }
        if (!this.messages.some((m) => m.state === 'visible')) {
          for (const resolve of this.noneVisible.splice(0)) resolve();
        }
        return visible.map((m) => ({
          messageId: m.messageId,
          receiptHandle: m.receiptHandle as string,
          body: m.body,
          receiveCount: m.receiveCount,
        }));
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        signal.addEventListener('abort', () => resolve(), { once: true });
      });
      this.wake = undefined;
    }
  }

  async deleteMany(handles: readonly string[]): Promise<void> {
    const err = this.failNext.deleteMany.shift();
    if (err) throw err;
    for (const h of handles) {
      const m = this.messages.find((x) => x.receiptHandle === h);
      if (m) m.state = 'deleted';
    }
  }

  async changeVisibility(entries: readonly { receiptHandle: string; seconds: number }[]): Promise<number> {
    const hold = this.holdChangeVisibility.shift();
    if (hold) await hold;
    for (const e of entries) {
      const m = this.messages.find((x) => x.receiptHandle === e.receiptHandle && x.state === 'in-flight');
      if (!m) continue;
      m.visibilitySeconds = e.seconds;
      m.visibilityChanges.push(e.seconds);
    }
    return 0;
  }

  async sendToDlq(message: ReceivedMessage, reason: string): Promise<void> {
    const err = this.failNext.sendToDlq.shift();
    if (err) throw err;
    this.dlq.push({ body: message.body, reason, sourceMessageId: message.messageId });
  }
}

/** The dedupe claims of services/listener/dedupe.ts (a Redis key per event and instance), in a map. */
class FakeDedupe {
  /** key -> owner, or 'done'. */
  readonly keys = new Map<string, string>();
  /** What the next calls of that kind do instead, one each: throw, or (a claim) never answer. */
  readonly failNext: { claim: (Error | 'no-answer')[]; markDone: Error[] } = { claim: [], markDone: [] };
  claims = 0;

  key(eventId: string, instanceId: string): string {
    return `dedupe:${eventId}:${instanceId}`;
  }

  async claim(key: string, owner: string): Promise<ClaimResult> {
    this.claims++;
    const err = this.failNext.claim.shift();
    if (err === 'no-answer') return new Promise<never>(() => {});
    if (err) throw err;
    const v = this.keys.get(key);
    if (v === 'done') return 'done';
    if (v) return 'busy';
    this.keys.set(key, owner);
    return 'claimed';
  }

  async renew(key: string, owner: string): Promise<boolean> {
    return this.keys.get(key) === owner;
  }

  async release(key: string, owner: string): Promise<void> {
    if (this.keys.get(key) === owner) this.keys.delete(key);
  }

  async markDone(key: string): Promise<void> {
    const err = this.failNext.markDone.shift();
    if (err) throw err;
    this.keys.set(key, 'done');
  }
}

/** The taint + cordon patch, recorded per node; a call can be made to fail. */
class FakeTainter implements NodeTainter {
  readonly patches: { node: string; kind: EventKind }[] = [];
  readonly failNext: Error[] = [];
  /** Every call, those that found the node already so or failed included. */
  calls = 0;

  async taintAndCordon(node: V1Node, kind: EventKind): Promise<'patched' | 'unchanged'> {
    this.calls++;
    const err = this.failNext.shift();
    if (err) throw err;
    const name = node.metadata?.name ?? '';
    if (this.patches.some((p) => p.node === name && p.kind === kind)) return 'unchanged';
    this.patches.push({ node: name, kind });
    return 'patched';
  }
}

interface AddedJob {
  queue: string;
  name: string;
  data: PlannedJob['data'];
  opts: JobsOptions;
}

/**
 * BullMQ's queues as the listener's sink fills them: each job added with
 * the production options (services/common/jobs.ts), an id already there
 * left as it is, as BullMQ does.
 */
class FakeJobSink implements JobSink {
  readonly jobs = new Map<string, AddedJob>();
  /** Every add asked for, duplicates included. */
  adds = 0;
  readonly failNext: Error[] = [];
  /** While set, each enqueue says it has begun, then waits for `until` before it answers, as a slow Redis does. */
  hold: { entered: () => void; until: Promise<void> } | undefined;

  async enqueue(planned: readonly PlannedJob[]): Promise<void> {
    if (this.hold) {
      this.hold.entered();
      await this.hold.until;
    }
    const err = this.failNext.shift();
    if (err) throw err;
    for (const j of planned) {
      this.adds++;
      if (this.jobs.has(j.jobId)) continue;
      this.jobs.set(j.jobId, {
        queue: j.queue,
        name: j.name,
        data: j.data,
        opts: jobOptions(j.queue, j.jobId, j.priority),
      });
    }
  }

  inQueue(queue: string): AddedJob[] {
    return [...this.jobs.values()].filter((j) => j.queue === queue);
  }
}

/** The informer cache: nodes indexed by the instance id of their providerID, pods by node. */
class FakeClusterView implements ClusterView {
  readonly nodes: V1Node[] = [];
  readonly pods: V1Pod[] = [];
  readonly namespaces = new Map<string, Record<string, string>>();
  isSynced = true;

  nodeForInstance(instanceId: string): ResolvedNode | undefined {
    for (const node of this.nodes) {
      const parsed = parseProviderId(node.spec?.providerID);
      if (parsed?.instanceId !== instanceId) continue;
      return {
        name: node.metadata?.name ?? '',
        instanceId,
        ...(parsed.zone ? { zone: parsed.zone } : {}),
        node,
      };
    }
    return undefined;
  }

  podsOnNode(nodeName: string): V1Pod[] {
    return this.pods.filter((p) => p.spec?.nodeName === nodeName);
  }

  namespaceLabels(namespace: string): Readonly<Record<string, string>> | undefined {
    return this.namespaces.get(namespace);
  }

  synced(): boolean {
    return this.isSynced;
  }
}

class FakeNodeEvents implements NodeEventSink {
  readonly recorded: { node: string; reason: string }[] = [];
  readonly notes: string[] = [];

  async record(node: V1Node, events: readonly NodeEvent[]): Promise<void> {
    for (const e of events) {
      this.recorded.push({ node: node.metadata?.name ?? '', reason: e.reason });
      this.notes.push(e.note);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The cluster and the harness

function spotNode(name: string, instanceId: string): V1Node {
  return {
    metadata: { name, uid: `node-uid-${name}` },
    spec: { providerID: `aws:///us-east-1a/${instanceId}` },
  };
}

function pod(namespace: string, name: string, extra: Partial<V1Pod['metadata']> = {}): V1Pod {
  return {
    metadata: { namespace, name, uid: `uid-${name}`, ...extra },
    spec: { nodeName: NODE, containers: [{ name: 'main', image: 'app' }] },
    status: { phase: 'Running' },
  };
}

/** On the interrupted node: one pod opted in by annotation, one by its namespace, one not, one DaemonSet pod. */
const PODS: V1Pod[] = [
  pod('shop', 'cart-0', { annotations: { [MIGRATE_ANNOTATION]: 'true' } }),
  pod('batch', 'report-1'),
  pod('shop', 'web-1'),
  pod('kube-system', 'node-agent', {
    ownerReferences: [
      { apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'agent', uid: 'ds', controller: true },
    ],
  }),
];

function harness(config: Partial<ProcessorConfig> = {}) {
  const sqs = new FakeSqs();
  const dedupe = new FakeDedupe();
  const tainter = new FakeTainter();
  const sink = new FakeJobSink();
  const cluster = new FakeClusterView();
  const nodeEvents = new FakeNodeEvents();
  cluster.nodes.push(spotNode(NODE, INSTANCE), spotNode('on-demand-b', 'i-0fff000000000000b'));
  cluster.pods.push(...PODS);
  cluster.namespaces.set('batch', { [NAMESPACE_OPT_IN_LABEL]: 'enabled' });
  const registry = new Registry();
  const metrics = createListenerMetrics(registry);
  const log = pino({ level: 'silent' });
  const c = { ...CONFIG, ...config };
  const processor = new MessageProcessor({
    config: c,
    dedupe,
    cluster,
    tainter,
    sink,
    metrics,
    log,
    nodeEvents,
  });
  return {
    sqs,
    dedupe,
    tainter,
    sink,
    cluster,
    nodeEvents,
    registry,
    /** The real receive loop over these fakes, not started. */
    loop: () => new ReceiveLoop(c, sqs, processor, dedupe, metrics, log),
    /** Runs the real receive loop until every visible message was handed out and settled. */
    async receiveAll(): Promise<void> {
      const loop = new ReceiveLoop(c, sqs, processor, dedupe, metrics, log);
      loop.start();
      await sqs.untilNoneVisible();
      // stop() lets the messages in flight finish and settles them with SQS before it resolves.
      await loop.stop();
    },
  };
}

type Harness = ReturnType<typeof harness>;

async function counter(h: Harness, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = (await h.registry.getMetricsAsJSON()).find((m) => m.name === name);
  const values = (metric?.values ?? []) as { value: number; labels: Record<string, string | number> }[];
  return values
    .filter((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want))
    .reduce((sum, v) => sum + v.value, 0);
}

const jobIds = (h: Harness) => [...h.sink.jobs.keys()].sort();

const SPOT_EVENT_ID = '7e1d5a2c-0000-4b1a-9d3e-2f6c1a9b8e70';
/** The jobs of the spot warning on the node, by id. */
const SPOT_JOB_IDS = [
  `evict-pod__${SPOT_EVENT_ID}__uid-web-1`,
  `finalize-node__${SPOT_EVENT_ID}__${INSTANCE}`,
  `migrate-pod__${SPOT_EVENT_ID}__uid-cart-0`,
  `migrate-pod__${SPOT_EVENT_ID}__uid-report-1`,
];

// ---------------------------------------------------------------------------------------------

describe('the message processor, fed the sample events through a fake SQS', () => {
  beforeEach(() => mock.timers.enable({ apis: ['Date'], now: NOW }));
  afterEach(() => mock.timers.reset());

  it('a spot interruption warning: node tainted, a job per pod with the production options, message deleted', async () => {
    const h = harness();
    const id = h.sqs.send(fixture('spot-interruption-warning.json'));
    await h.receiveAll();

    assert.deepEqual(h.tainter.patches, [{ node: NODE, kind: 'spot-interruption' }]);
    const ev = SPOT_EVENT_ID;
    const event = {
      id: ev,
      kind: 'spot-interruption',
      deadline: '2026-09-01T12:02:00.000Z',
      receivedAt: '2026-09-01T12:00:30.000Z',
      eventTime: '2026-09-01T12:00:00.000Z',
    };
    const node = { name: NODE, instanceId: INSTANCE, zone: 'us-east-1a' };
    const deadline = '2026-09-01T12:02:00.000Z';
    const retain = { removeOnComplete: { age: 86_400 }, removeOnFail: { age: 604_800 } };
    // 90 s left: migrations in the 18th 5-second step, size class 36 (512 MiB, the ordering default).
    assert.deepEqual(h.sink.inQueue('rescue'), [
      {
        queue: 'rescue',
        name: 'migrate-pod',
        data: { event, node, pod: { namespace: 'batch', name: 'report-1', uid: 'uid-report-1' }, deadline },
        opts: {
          jobId: `migrate-pod__${ev}__uid-report-1`,
          priority: 18 * 64 + 36 + 1,
          attempts: 4,
          backoff: { type: 'exponential', delay: 1000 },
          ...retain,
        },
      },
      {
        queue: 'rescue',
        name: 'migrate-pod',
        data: { event, node, pod: { namespace: 'shop', name: 'cart-0', uid: 'uid-cart-0' }, deadline },
        opts: {
          jobId: `migrate-pod__${ev}__uid-cart-0`,
          priority: 18 * 64 + 36 + 1,
          attempts: 4,
          backoff: { type: 'exponential', delay: 1000 },
          ...retain,
        },
      },
    ]);
    assert.deepEqual(h.sink.inQueue('evict'), [
      {
        queue: 'evict',
        name: 'evict-pod',
        data: {
          event,
          node,
          pod: { namespace: 'shop', name: 'web-1', uid: 'uid-web-1' },
          deadline,
          reason: `spot-interruption on ${NODE}`,
        },
        opts: {
          jobId: `evict-pod__${ev}__uid-web-1`,
          priority: 90,
          attempts: 5,
          backoff: { type: 'exponential', delay: 1000 },
          ...retain,
        },
      },
    ]);
    assert.deepEqual(h.sink.inQueue('finalize'), [
      {
        queue: 'finalize',
        name: 'finalize-node',
        data: { event, node, podUids: ['uid-report-1', 'uid-cart-0', 'uid-web-1'], deadline },
        opts: {
          jobId: `finalize-node__${ev}__${INSTANCE}`,
          priority: 90,
          attempts: 5,
          backoff: { type: 'exponential', delay: 2000 },
          ...retain,
        },
      },
    ]);
    assert.equal(h.sqs.message(id).state, 'deleted');
    assert.deepEqual(h.sqs.dlq, []);
    assert.equal(h.dedupe.keys.get(h.dedupe.key(ev, INSTANCE)), 'done');
    assert.deepEqual(h.nodeEvents.recorded, [
      { node: NODE, reason: NODE_EVENT_REASONS.interruptionReceived },
      { node: NODE, reason: NODE_EVENT_REASONS.cordoned },
      { node: NODE, reason: NODE_EVENT_REASONS.rescuePlanned },
    ]);
    assert.equal(await counter(h, 'spot_rescue_listener_instances_total', { result: 'handled' }), 1);
  });

  // Each sample that is acted on: its kind on the taint, its deadline on the jobs, its id in theirs.
  const acted: {
    file: string;
    kind: EventKind;
    eventId: string;
    deadline: string;
    config?: Partial<ProcessorConfig>;
  }[] = [
    {
      file: 'capacity-reservation-interruption-warning.json',
      kind: 'capacity-reservation-interruption',
      eventId: 'b7d0e4a1-2c3f-4e5a-9b8c-7d6e5f4a3b2c',
      deadline: '2026-10-05T07:32:00.000Z',
    },
    {
      file: 'cloudwatch-alarm-state-change.json',
      kind: 'cloudwatch-alarm',
      eventId: 'c4c1c1c9-6542-e61b-6ef0-8c4d36933a92',
      deadline: '2026-09-01T12:02:30.000Z',
    },
    {
      file: 'cloudwatch-alarm-via-sns.json',
      kind: 'cloudwatch-alarm',
      eventId: 'alarm-a058424e26cddbb3a1b7d4073edce517',
      deadline: '2026-09-01T12:02:30.000Z',
      config: { snsTopicArns: [ALARM_TOPIC] },
    },
    {
      file: 'health-scheduled-change.json',
      kind: 'scheduled-maintenance',
      eventId: 'a1b2c3d4-e5f6-7a8b-9c0d-e1f2a3b4c5d6',
      deadline: '2026-09-14T09:00:00.000Z',
    },
    {
      file: 'instance-state-change-terminated.json',
      kind: 'instance-state-change',
      eventId: '2f0c9a44-6b7d-4e21-a0c3-9d8e7f6a5b4c',
      deadline: '2026-09-01T12:00:30.000Z',
    },
    {
      file: 'asg-terminate-lifecycle-direct.json',
      kind: 'asg-lifecycle-terminate',
      eventId: '87654321-4321-4321-4321-210987654321',
      deadline: '2026-09-01T12:05:00.000Z',
    },
    {
      file: 'asg-terminate-lifecycle-eventbridge.json',
      kind: 'asg-lifecycle-terminate',
      eventId: '87654321-4321-4321-4321-210987654321',
      deadline: '2026-09-01T12:05:00.000Z',
    },
  ];
  for (const row of acted) {
    it(`${row.file}: ${row.kind} taint, three pod jobs and a finalize job, message deleted`, async () => {
      const h = harness(row.config);
      const id = h.sqs.send(fixture(row.file));
      await h.receiveAll();

      assert.deepEqual(h.tainter.patches, [{ node: NODE, kind: row.kind }]);
      assert.deepEqual(jobIds(h), [
        `evict-pod__${row.eventId}__uid-web-1`,
        `finalize-node__${row.eventId}__${INSTANCE}`,
        `migrate-pod__${row.eventId}__uid-cart-0`,
        `migrate-pod__${row.eventId}__uid-report-1`,
      ]);
      for (const j of h.sink.jobs.values()) {
        assert.equal(j.data.event.id, row.eventId);
        assert.equal(j.data.event.kind, row.kind);
        assert.equal(j.data.deadline, row.deadline);
      }
      assert.equal(h.sqs.message(id).state, 'deleted');
      assert.deepEqual(h.sqs.dlq, []);
    });
  }

  it('an ASG lifecycle event: the finalize job carries the lifecycle action to complete, with the instance', async () => {
    const h = harness();
    h.sqs.send(fixture('asg-terminate-lifecycle-eventbridge.json'));
    await h.receiveAll();

    const [finalize] = h.sink.inQueue('finalize');
    assert.deepEqual(finalize?.data.event.lifecycleAction, {
      autoScalingGroupName: 'spot-workers',
      lifecycleHookName: 'spot-rescue-drain',
      lifecycleActionToken: '87654321-4321-4321-4321-210987654321',
      instanceId: INSTANCE,
    });
  });

  it('a rebalance recommendation (policy cordon): the node tainted and cordoned, no job, message deleted', async () => {
    const h = harness();
    const id = h.sqs.send(fixture('rebalance-recommendation.json'));
    await h.receiveAll();

    assert.deepEqual(h.tainter.patches, [{ node: NODE, kind: 'rebalance-recommendation' }]);
    assert.deepEqual(jobIds(h), []);
    assert.equal(h.sqs.message(id).state, 'deleted');
  });

  it('a rebalance recommendation (policy migrate): jobs whose deadline is the migrate budget from receipt', async () => {
    const h = harness({ rebalancePolicy: 'migrate' });
    h.sqs.send(fixture('rebalance-recommendation.json'));
    await h.receiveAll();

    const [migrate] = h.sink.inQueue('rescue');
    assert.equal(migrate?.data.deadline, '2026-09-01T12:10:30.000Z');
    assert.equal(h.sink.inQueue('finalize')[0]?.data.deadline, null);
  });

  it('an ASG test notification: ignored, deleted, nothing touched', async () => {
    const h = harness();
    const id = h.sqs.send(fixture('asg-test-notification.json'));
    await h.receiveAll();

    assert.deepEqual(h.tainter.patches, []);
    assert.deepEqual(jobIds(h), []);
    assert.deepEqual(h.sqs.dlq, []);
    assert.equal(h.sqs.message(id).state, 'deleted');
  });

  it('an instance that is not a node of this cluster: deleted, nothing touched, the claim let go', async () => {
    const h = harness();
    h.cluster.nodes.splice(0, 1);
    const id = h.sqs.send(fixture('spot-interruption-warning.json'));
    await h.receiveAll();

    assert.deepEqual(h.tainter.patches, []);
    assert.deepEqual(jobIds(h), []);
    assert.equal(h.sqs.message(id).state, 'deleted');
    assert.equal(h.dedupe.keys.size, 0);
  });

  it('an instance missing from a cache that is not synced: not dropped, the message waits for a retry', async () => {
    const h = harness();
    h.cluster.nodes.splice(0, 1);
    h.cluster.isSynced = false;
    const id = h.sqs.send(fixture('spot-interruption-warning.json'));
    await h.receiveAll();
    assert.equal(h.sqs.message(id).state, 'in-flight');
    assert.equal(h.sqs.message(id).visibilitySeconds, CONFIG.retryDelaySeconds);

    // The cache syncs and the node turns out to be ours.
    h.cluster.nodes.unshift(spotNode(NODE, INSTANCE));
    h.cluster.isSynced = true;
    h.sqs.redeliver();
    await h.receiveAll();
    assert.deepEqual(h.tainter.patches, [{ node: NODE, kind: 'spot-interruption' }]);
    assert.deepEqual(jobIds(h), SPOT_JOB_IDS);
    assert.equal(h.sqs.message(id).state, 'deleted');
  });
});

describe('malformed messages go to the DLQ with their reason', () => {
  beforeEach(() => mock.timers.enable({ apis: ['Date'], now: NOW }));
  afterEach(() => mock.timers.reset());

  const malformed: { what: string; body: string; reason: RegExp }[] = [
    {
      what: 'an SNS notification from a topic not accepted',
      body: fixture('cloudwatch-alarm-via-sns.json'),
      reason: /not one of the accepted topics/,
    },
    { what: 'a body that is not JSON', body: '{"detail-type": "EC2 Spot Instance Interr', reason: /JSON/i },
    {
      what: 'a spot warning without its instance',
      body: JSON.stringify({ ...JSON.parse(fixture('spot-interruption-warning.json')), detail: {} }),
      reason: /instance-id/,
    },
    { what: 'a message too large', body: `{"pad":"${'x'.repeat(300 * 1024)}"}`, reason: /bytes|large/i },
  ];
  for (const m of malformed) {
    it(m.what, async () => {
      const h = harness();
      const id = h.sqs.send(m.body);
      await h.receiveAll();

      assert.equal(h.sqs.dlq.length, 1);
      assert.equal(h.sqs.dlq[0]?.body, m.body);
      assert.equal(h.sqs.dlq[0]?.sourceMessageId, id);
      assert.match(h.sqs.dlq[0]?.reason ?? '', m.reason);
      // Moved, not copied: gone from the queue, nothing done for it.
      assert.equal(h.sqs.message(id).state, 'deleted');
      assert.deepEqual(h.tainter.patches, []);
      assert.deepEqual(jobIds(h), []);
      assert.equal(await counter(h, 'spot_rescue_listener_dlq_sends_total'), 1);
    });
  }

  it('a DLQ that refuses it: the message is kept and dead-lettered when it comes back', async () => {
    const h = harness();
    h.sqs.failNext.sendToDlq.push(new Error('SQS 500'));
    const id = h.sqs.send('not json');
    await h.receiveAll();
    assert.equal(h.sqs.message(id).state, 'in-flight');
    assert.deepEqual(h.sqs.dlq, []);

    h.sqs.redeliver();
    await h.receiveAll();
    assert.equal(h.sqs.dlq.length, 1);
    assert.equal(h.sqs.message(id).state, 'deleted');
  });
});

describe('duplicates and failures: nothing lost, nothing done twice', () => {
  beforeEach(() => mock.timers.enable({ apis: ['Date'], now: NOW }));
  afterEach(() => mock.timers.reset());

  it('the same event twice in one batch: handled once, the copy deleted as a duplicate after its retry', async () => {
    const h = harness();
    const first = h.sqs.send(fixture('spot-interruption-warning.json'));
    const copy = h.sqs.send(fixture('spot-interruption-warning.json'));
    await h.receiveAll();
    // One of the two holds the claim and does the work; the other is told another is on it.
    const states = [h.sqs.message(first).state, h.sqs.message(copy).state].sort();
    assert.deepEqual(states, ['deleted', 'in-flight']);
    assert.equal(h.sqs.remaining[0]?.visibilitySeconds, CONFIG.retryDelaySeconds);

    h.sqs.redeliver();
    await h.receiveAll();
    assert.deepEqual(h.sqs.remaining, []);
    assert.deepEqual(h.tainter.patches, [{ node: NODE, kind: 'spot-interruption' }]);
    assert.equal(h.sink.adds, 4, 'each job was asked for once');
    assert.equal(await counter(h, 'spot_rescue_listener_instances_total', { result: 'duplicate' }), 1);
  });

  it('a redelivery after the message was handled (its delete failed): dropped, nothing asked again', async () => {
    const h = harness();
    h.sqs.failNext.deleteMany.push(new Error('SQS 503'));
    const id = h.sqs.send(fixture('spot-interruption-warning.json'));
    await h.receiveAll();
    assert.equal(h.sqs.message(id).state, 'in-flight');
    assert.equal(h.sink.adds, 4);

    h.sqs.redeliver();
    await h.receiveAll();
    assert.equal(h.sqs.message(id).state, 'deleted');
    assert.equal(h.sqs.message(id).receiveCount, 2);
    assert.equal(h.sink.adds, 4, 'the redelivery enqueued nothing');
    assert.equal(h.tainter.patches.length, 1);
  });

  const failures: { step: string; fail: (h: Harness) => void }[] = [
    {
      step: 'the dedupe claim (Redis down)',
      fail: (h) => h.dedupe.failNext.claim.push(new Error('ECONNREFUSED')),
    },
    {
      step: 'the taint patch (API server)',
      fail: (h) => h.tainter.failNext.push(new Error('503 from the API server')),
    },
    { step: 'the enqueue (Redis)', fail: (h) => h.sink.failNext.push(new Error('READONLY failover')) },
    {
      step: 'marking the event done (Redis)',
      fail: (h) => h.dedupe.failNext.markDone.push(new Error('ETIMEDOUT')),
    },
  ];
  for (const f of failures) {
    it(`${f.step} fails: the message stays for redelivery, and the redelivery finishes the work once`, async () => {
      const h = harness();
      f.fail(h);
      const id = h.sqs.send(fixture('spot-interruption-warning.json'));
      await h.receiveAll();

      const m = h.sqs.message(id);
      assert.equal(m.state, 'in-flight', 'not deleted');
      assert.equal(m.visibilitySeconds, CONFIG.retryDelaySeconds, 'back after the retry delay');
      assert.deepEqual(h.sqs.dlq, []);
      // The claim is let go, so the redelivery (here or on another replica) acts at once.
      assert.equal(h.dedupe.keys.size, 0);

      h.sqs.redeliver();
      await h.receiveAll();
      assert.equal(m.state, 'deleted');
      assert.deepEqual(h.tainter.patches, [{ node: NODE, kind: 'spot-interruption' }]);
      assert.deepEqual(jobIds(h), SPOT_JOB_IDS);
      assert.equal(await counter(h, 'spot_rescue_listener_instances_total', { result: 'failed' }), 1);
      assert.equal(await counter(h, 'spot_rescue_listener_instances_total', { result: 'handled' }), 1);
    });
  }

  it('a retried message backs off longer on each receive', async () => {
    const h = harness();
    h.cluster.isSynced = false;
    h.cluster.nodes.splice(0, 1);
    const id = h.sqs.send(fixture('spot-interruption-warning.json'));
    const delays: number[] = [];
    for (let i = 0; i < 3; i++) {
      await h.receiveAll();
      delays.push(h.sqs.message(id).visibilitySeconds ?? -1);
      h.sqs.redeliver();
    }
    assert.deepEqual(delays, [5, 10, 20]);
  });

  it('a retried event with a deadline comes back within a quarter of the time it has left, however long it backed off', async () => {
    const h = harness();
    h.cluster.isSynced = false;
    h.cluster.nodes.splice(0, 1);
    // Received 30 s after the warning's time: 90 s left, so no retry waits more than 22 s.
    const spot = h.sqs.send(fixture('spot-interruption-warning.json'));
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      await h.receiveAll();
      delays.push(h.sqs.message(spot).visibilitySeconds ?? -1);
      h.sqs.redeliver();
    }
    assert.deepEqual(delays, [5, 10, 20, 22, 22, 22]);
    // 10 s before the deadline: back within 2 s; past it, the back-off as for any message (40, then 80).
    mock.timers.setTime(NOW + 80_000);
    await h.receiveAll();
    assert.equal(h.sqs.message(spot).visibilitySeconds, 2);
    h.sqs.redeliver();
    mock.timers.setTime(NOW + 100_000);
    await h.receiveAll();
    assert.equal(h.sqs.message(spot).visibilitySeconds, 640);
  });
});

describe('Redis gives no answer to the claim: the node is cordoned anyway, the rescue waits', () => {
  beforeEach(() => mock.timers.enable({ apis: ['Date'], now: NOW }));
  afterEach(() => mock.timers.reset());

  const CORDONS = 'spot_rescue_listener_cordons_without_redis_total';
  const waiting = { node: NODE, reason: NODE_EVENT_REASONS.rescueWaitingForRedis };

  it('a claim that cannot reach Redis: tainted and cordoned, a Warning on the node, no job, the message retried', async () => {
    const h = harness();
    h.dedupe.failNext.claim.push(new Error('Reached the max retries per request limit (which is 1)'));
    const id = h.sqs.send(fixture('spot-interruption-warning.json'));
    await h.receiveAll();

    assert.deepEqual(h.tainter.patches, [{ node: NODE, kind: 'spot-interruption' }]);
    assert.deepEqual(jobIds(h), []);
    assert.equal(h.sqs.message(id).state, 'in-flight');
    assert.equal(h.sqs.message(id).visibilitySeconds, CONFIG.retryDelaySeconds);
    assert.equal(h.dedupe.keys.size, 0, 'no claim was taken');
    assert.deepEqual(h.nodeEvents.recorded, [waiting]);
    assert.match(h.nodeEvents.notes[0] ?? '', /Redis is unreachable: tainted .* and cordoned; its pods stay/);
    assert.equal(await counter(h, CORDONS, { result: 'patched' }), 1);
    assert.equal(await counter(h, 'spot_rescue_listener_instances_total', { result: 'failed' }), 1);

    // Redis is back: the retry does the rescue proper, and the cordon is not counted again.
    h.sqs.redeliver();
    await h.receiveAll();
    assert.equal(h.sqs.message(id).state, 'deleted');
    assert.deepEqual(jobIds(h), SPOT_JOB_IDS);
    assert.deepEqual(h.tainter.patches, [{ node: NODE, kind: 'spot-interruption' }]);
    assert.equal(await counter(h, CORDONS), 1);
  });

  it('a claim Redis does not answer in time: the same, and the Event says it timed out', async () => {
    const h = harness({ redisTimeoutMs: 20 });
    h.dedupe.failNext.claim.push('no-answer');
    const id = h.sqs.send(fixture('spot-interruption-warning.json'));
    await h.receiveAll();

    assert.deepEqual(h.tainter.patches, [{ node: NODE, kind: 'spot-interruption' }]);
    assert.equal(h.sqs.message(id).state, 'in-flight');
    assert.equal(h.sqs.message(id).visibilitySeconds, CONFIG.retryDelaySeconds);
    assert.match(h.nodeEvents.notes[0] ?? '', /Redis did not answer in time/);
    assert.equal(await counter(h, CORDONS, { result: 'patched' }), 1);
  });

  it('every retry while Redis stays away finds the node cordoned: patched once, one Event', async () => {
    const h = harness();
    const id = h.sqs.send(fixture('spot-interruption-warning.json'));
    for (let i = 0; i < 3; i++) {
      h.dedupe.failNext.claim.push(new Error('Connection is closed.'));
      await h.receiveAll();
      h.sqs.redeliver();
    }
    assert.equal(h.sqs.message(id).receiveCount, 3);
    assert.equal(h.tainter.calls, 3);
    assert.equal(await counter(h, CORDONS, { result: 'patched' }), 1);
    assert.equal(await counter(h, CORDONS, { result: 'unchanged' }), 2);
    assert.deepEqual(h.nodeEvents.recorded, [waiting]);
  });

  it('a rebalance recommendation (response cordon): cordoned as well', async () => {
    const h = harness();
    h.dedupe.failNext.claim.push(new Error('ECONNREFUSED'));
    const id = h.sqs.send(fixture('rebalance-recommendation.json'));
    await h.receiveAll();

    assert.deepEqual(h.tainter.patches, [{ node: NODE, kind: 'rebalance-recommendation' }]);
    assert.equal(h.sqs.message(id).state, 'in-flight');
    assert.doesNotMatch(h.nodeEvents.notes[0] ?? '', /pods stay/);
  });

  it('an instance that is not a node of this cluster: nothing tainted, the message retried', async () => {
    const h = harness();
    h.cluster.nodes.splice(0, 1);
    h.dedupe.failNext.claim.push(new Error('ECONNREFUSED'));
    const id = h.sqs.send(fixture('spot-interruption-warning.json'));
    await h.receiveAll();

    assert.equal(h.tainter.calls, 0);
    assert.equal(h.sqs.message(id).state, 'in-flight');
    assert.deepEqual(h.nodeEvents.recorded, []);
    assert.equal(await counter(h, CORDONS), 0);
  });

  it('a cache still syncing: the node it holds is tainted all the same, the message retried', async () => {
    const h = harness();
    h.cluster.isSynced = false;
    h.dedupe.failNext.claim.push(new Error('ECONNREFUSED'));
    const id = h.sqs.send(fixture('spot-interruption-warning.json'));
    await h.receiveAll();

    assert.equal(h.tainter.calls, 1);
    assert.equal(h.sqs.message(id).state, 'in-flight');
    assert.equal(await counter(h, CORDONS, { result: 'patched' }), 1);
  });

  it('the cordon fails too: counted, nothing thrown, the message retried, and the retry does it all', async () => {
    const h = harness();
    h.dedupe.failNext.claim.push(new Error('ECONNREFUSED'));
    h.tainter.failNext.push(new Error('503 from the API server'));
    const id = h.sqs.send(fixture('spot-interruption-warning.json'));
    await h.receiveAll();

    assert.equal(h.tainter.calls, 1);
    assert.deepEqual(h.tainter.patches, []);
    assert.equal(h.sqs.message(id).state, 'in-flight');
    assert.equal(h.sqs.message(id).visibilitySeconds, CONFIG.retryDelaySeconds);
    assert.deepEqual(h.nodeEvents.recorded, []);
    assert.equal(await counter(h, CORDONS, { result: 'failed' }), 1);
    assert.equal(await counter(h, 'spot_rescue_listener_instances_total', { result: 'failed' }), 1);

    h.sqs.redeliver();
    await h.receiveAll();
    assert.equal(h.sqs.message(id).state, 'deleted');
    assert.deepEqual(h.tainter.patches, [{ node: NODE, kind: 'spot-interruption' }]);
    assert.deepEqual(jobIds(h), SPOT_JOB_IDS);
  });

  it("a claim Redis answered 'busy' or 'done' is no failure: nothing cordoned by this replica", async () => {
    for (const held of ['another-owner', 'done']) {
      const h = harness();
      h.dedupe.keys.set(h.dedupe.key(SPOT_EVENT_ID, INSTANCE), held);
      h.sqs.send(fixture('spot-interruption-warning.json'));
      await h.receiveAll();
      assert.equal(h.dedupe.claims, 1);
      assert.equal(h.tainter.calls, 0, held);
      assert.equal(await counter(h, CORDONS), 0);
    }
  });
});

describe('the visibility heartbeat never undoes a settle', () => {
  // 15 s before the warning's deadline, so a retry must come back within seconds. The heartbeat's
  // interval is mocked too: the test fires it while the message is being worked on.
  beforeEach(() => mock.timers.enable({ apis: ['Date', 'setInterval'], now: NOW + 75_000 }));
  afterEach(() => mock.timers.reset());

  it('a retry settled while an extend naming it is under way: SQS gets the extend first, the short retry visibility last', async () => {
    const h = harness({ visibilityTimeoutSeconds: 30 });
    const enqueueEntered = deferred();
    const enqueueAnswer = deferred();
    h.sink.hold = { entered: enqueueEntered.release, until: enqueueAnswer.promise };
    h.sink.failNext.push(new Error('Redis is failing over'));
    const id = h.sqs.send(fixture('spot-interruption-warning.json'));
    const loop = h.loop();
    loop.start();
    await enqueueEntered.promise;

    // The heartbeat fires (a third of the 30 s timeout) while the enqueue waits; SQS is slow to answer it.
    const extendAnswer = deferred();
    h.sqs.holdChangeVisibility.push(extendAnswer.promise);
    mock.timers.tick(10_000);
    // The enqueue fails, so the message is settled for a retry: 5 s before the deadline, back in 1 s.
    enqueueAnswer.release();
    // Every fake answers in a microtask, so one turn of the event loop lets the settle go as far as
    // it can; only then does the extend's answer arrive (the order the race was seen in).
    await new Promise((resolve) => setImmediate(resolve));
    extendAnswer.release();
    await loop.stop();

    assert.equal(h.sqs.message(id).state, 'in-flight');
    assert.deepEqual(h.sqs.message(id).visibilityChanges, [30, 1]);
  });

  it('a heartbeat while a retry is being settled does not name it: no extend can land after the settle', async () => {
    mock.timers.setTime(NOW + 85_000);
    const h = harness({ visibilityTimeoutSeconds: 30 });
    h.sink.failNext.push(new Error('Redis is failing over'));
    // SQS is slow to answer the settle (5 s before the deadline: back in 1 s), and any extend after it.
    const settleAnswer = deferred();
    const extendAnswer = deferred();
    h.sqs.holdChangeVisibility.push(settleAnswer.promise, extendAnswer.promise);
    const id = h.sqs.send(fixture('spot-interruption-warning.json'));
    const loop = h.loop();
    loop.start();
    await h.sqs.untilNoneVisible();
    // One turn of the event loop: the message is worked on and its settle sent (all fakes answer in microtasks).
    await new Promise((resolve) => setImmediate(resolve));
    mock.timers.tick(10_000);
    settleAnswer.release();
    await new Promise((resolve) => setImmediate(resolve));
    extendAnswer.release();
    await loop.stop();

    assert.deepEqual(h.sqs.message(id).visibilityChanges, [1]);
  });
});
