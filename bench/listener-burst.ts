/**
 * Listener burst benchmark: N nodes x M pods on kwok (default 200 x 30 = 6,000
 * pods), then a burst of N spot interruption warnings put on the queue at
 * once. Prints the time until every node is cordoned and every job enqueued,
 * event-to-enqueue latency percentiles, and, as baselines measured in the
 * same run, single events on the idle listener and the stack's SQS alone
 * (the same number of messages sent and drained with no work), and the
 * burst's ratio to that floor (target <= 1.2x). What grows with the size is
 * printed per node so two sizes can be compared: the listener's heap after
 * its informers synced, Redis commands, the listener's taint-and-cordon
 * PATCH requests by result (its metric), and every node PATCH as the API
 * server counted them (the node controller's answer to each cordon too).
 * The burst starts once every node is Ready and its start-up taint lifted,
 * as a long-running node is when its warning comes.
 *
 * At 1,000 nodes x 30 pods (30,000 pods) the set-up alone creates 31,000
 * objects; it runs, but give the machine to it.
 *
 *   eval "$(infra/stack env)"; npm run bench:listener -- [--nodes 200] [--pods 30] [--idle 25] [--json out/listener-burst.json]
 *
 * Everything it creates (nodes, namespace, queues, Redis keys) is removed at the end.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
} from '@aws-sdk/client-sqs';
import { CoreV1Api, type V1Node } from '@kubernetes/client-node';
import { Queue } from 'bullmq';
import type { Registry } from 'prom-client';
import { createSqsClient } from '../services/common/aws.js';
import { readConfig } from '../services/common/config.js';
import { newJobSigningKeyFile } from '../services/common/job-signing-key.js';
import { loadKubeConfig } from '../services/common/kube.js';
import { TAINT_KEY } from '../services/common/labels.js';
import { createLogger } from '../services/common/logger.js';
import { createRedisConnection } from '../services/common/redis.js';
import type { HandledNode } from '../services/listener/processor.js';
import { startListenerService } from '../services/listener/service.js';
import { listenerSettings } from '../services/listener/settings.js';

const { values: args } = parseArgs({
  options: {
    nodes: { type: 'string', default: '200' },
    pods: { type: 'string', default: '30' },
    idle: { type: 'string', default: '25' },
    json: { type: 'string', default: 'out/listener-burst.json' },
  },
});
const NODES = Number(args.nodes);
const PODS = Number(args.pods);
const IDLE = Number(args.idle);

for (const v of ['SPOT_RESCUE_REDIS_URL', 'SPOT_RESCUE_AWS_ENDPOINT', 'KUBECONFIG']) {
  if (!process.env[v]) throw new Error(`${v} is not set: run \`eval "$(infra/stack env)"\` first`);
}

const run = `lb-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
const kc = loadKubeConfig(process.env['KUBECONFIG']);
const core = kc.makeApiClient(CoreV1Api);
const sqs = createSqsClient({
  awsRegion: process.env['AWS_REGION'] ?? 'us-east-1',
  awsEndpoint: process.env['SPOT_RESCUE_AWS_ENDPOINT'],
});
const redis = createRedisConnection(process.env['SPOT_RESCUE_REDIS_URL']!);

interface SimNode {
  name: string;
  instanceId: string;
}

async function pool<T>(items: readonly T[], width: number, fn: (t: T) => Promise<unknown>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

/**
 * The API server's count of node PATCH requests (not the status), from its
 * own metrics, by response code. It counts every writer: the listener's
 * taint and cordon, and the node lifecycle controller's
 * `node.kubernetes.io/unschedulable` taint that answers each cordon.
 */
async function nodePatchCalls(): Promise<Record<string, number>> {
  const server = new URL(kc.getCurrentCluster()!.server);
  const opts: https.RequestOptions = {
    method: 'GET',
    hostname: server.hostname,
    port: server.port,
    path: '/metrics',
  };
  await kc.applyToHTTPSOptions(opts);
  const text = await new Promise<string>((resolve, reject) => {
    const req = https.request(opts, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    });
    req.on('error', reject);
    req.end();
  });
  const byCode: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    if (!/resource="nodes"/.test(line) || !/verb="PATCH"/.test(line) || /subresource="status"/.test(line))
      continue;
    const code = /code="(\d+)"/.exec(line)?.[1] ?? '?';
    byCode[code] = (byCode[code] ?? 0) + Number(line.split(' ').at(-1));
  }
  return byCode;
}

const minus = (after: Record<string, number>, before: Record<string, number>) =>
  Object.fromEntries(
    Object.entries(after)
      .map(([code, n]) => [code, n - (before[code] ?? 0)] as const)
      .filter(([, n]) => n > 0),
  );
const total = (byCode: Record<string, number>) => Object.values(byCode).reduce((a, b) => a + b, 0);

/** The listener's own taint-and-cordon PATCH requests so far, by result (its metric). */
async function listenerPatches(registry: Registry): Promise<Record<string, number>> {
  const metric = registry.getSingleMetric('spot_rescue_listener_node_patches_total');
  const values = metric ? (await metric.get()).values : [];
  return Object.fromEntries(values.map((v) => [String(v.labels['result']), v.value]));
}

/** Waits until every one of these nodes, as the API server lists them, passes the check. */
async function untilEveryNode(
  nodes: SimNode[],
  what: string,
  check: (n: V1Node) => boolean,
  timeoutMs: number,
): Promise<void> {
  const names = new Set(nodes.map((n) => n.name));
  const end = Date.now() + timeoutMs;
  for (;;) {
    const list = await core.listNode({ labelSelector: `spot-rescue.io/bench=${run}` });
    const done = list.items.filter((n) => names.has(n.metadata?.name ?? '') && check(n)).length;
    if (done === names.size) return;
    if (Date.now() > end) throw new Error(`${done} of ${names.size} nodes ${what} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/**
 * Every node as a long-running node is when its warning comes: Ready (kwok)
 * and without the not-ready taint it was born with (lifted by the node
 * lifecycle controller). A burst on nodes still being initialised would
 * measure the listener racing their start-up, not an interruption. Only
 * that taint is waited for: when kwok is slow to post the first status of
 * hundreds of nodes, the controller marks some unreachable (NoExecute) and
 * may take minutes to lift that again; such a node is tainted all the same,
 * and a lift during the burst costs the listener one more PATCH, counted.
 */
const settled = (nodes: SimNode[]) =>
  untilEveryNode(
    nodes,
    'Ready without the not-ready taint',
    (n) =>
      n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true &&
      !n.spec?.taints?.some((t) => t.key === 'node.kubernetes.io/not-ready'),
    10 * 60_000,
  );

/** The node lifecycle controller has answered every cordon with its unschedulable taint. */
const controllerAnswered = (nodes: SimNode[]) =>
  untilEveryNode(
    nodes,
    "with the node controller's unschedulable taint",
    (n) => n.spec?.taints?.some((t) => t.key === 'node.kubernetes.io/unschedulable') === true,
    5 * 60_000,
  );

/** Commands Redis has processed, all clients together (the stack's Redis is shared: a rough figure). */
async function redisCommands(): Promise<number> {
  const info = await redis.info('stats');
  return Number(/total_commands_processed:(\d+)/.exec(info)?.[1] ?? Number.NaN);
}

const heapMiB = () => process.memoryUsage().heapUsed / 2 ** 20;

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};
const ms = (x: number) => Math.round(x * 10) / 10;

function spotWarning(instanceId: string): string {
  return JSON.stringify({
    version: '0',
    id: randomUUID(),
    'detail-type': 'EC2 Spot Instance Interruption Warning',
    source: 'aws.ec2',
    account: '111122223333',
    time: new Date().toISOString(),
    region: 'us-east-1',
    resources: [`arn:aws:ec2:us-east-1a:instance/${instanceId}`],
    detail: { 'instance-id': instanceId, 'instance-action': 'terminate' },
  });
}

async function makeNodes(count: number, tag: string): Promise<SimNode[]> {
  const nodes = Array.from({ length: count }, (_, i) => ({
    name: `${run}-${tag}-${i}`,
    instanceId: `i-${randomBytes(9).toString('hex').slice(0, 17)}`,
  }));
  await pool(nodes, 32, (n) =>
    core.createNode({
      body: {
        metadata: {
          name: n.name,
          labels: { type: 'kwok', 'spot-rescue.io/bench': run },
          annotations: { 'kwok.x-k8s.io/node': 'fake' },
        },
        spec: { providerID: `aws:///us-east-1a/${n.instanceId}` },
        status: { allocatable: { cpu: '64', memory: '256Gi', pods: '110' } },
      },
    }),
  );
  return nodes;
}

async function makePods(namespace: string, nodes: SimNode[]) {
  const specs = nodes.flatMap((n) =>
    Array.from({ length: PODS }, (_, i) => ({ node: n.name, name: `${n.name}-p${i}` })),
  );
  await pool(specs, 48, (p) =>
    core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: p.name },
        spec: {
          nodeName: p.node,
          tolerations: [{ operator: 'Exists' }],
          containers: [{ name: 'app', image: 'registry.local/app:1' }],
        },
      },
    }),
  );
}

async function sendAll(queueUrl: string, bodies: string[]) {
  const batches: string[][] = [];
  for (let i = 0; i < bodies.length; i += 10) batches.push(bodies.slice(i, i + 10));
  await Promise.all(
    batches.map((b) =>
      sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: b.map((body, i) => ({ Id: String(i), MessageBody: body })),
        }),
      ),
    ),
  );
}

/**
 * The floor the stack's SQS sets: the same number of messages sent in one go
 * and drained (receive + delete, no work at all) by as many long-polls as the
 * listener keeps in flight.
 */
async function rawSqsDrain(count: number, pollers: number): Promise<{ sendMs: number; drainMs: number }> {
  const url = (await sqs.send(new CreateQueueCommand({ QueueName: `${run}-raw` }))).QueueUrl!;
  try {
    const t0 = Date.now();
    await sendAll(
      url,
      Array.from({ length: count }, (_, i) => spotWarning(`i-${i.toString(16).padStart(17, '0')}`)),
    );
    const sendMs = Date.now() - t0;
    let got = 0;
    let drainedAt = 0;
    await Promise.all(
      Array.from({ length: pollers }, async () => {
        while (got < count) {
          const r = await sqs.send(
            new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
          );
          const m = r.Messages ?? [];
          got += m.length;
          if (m.length > 0) {
            await sqs.send(
              new DeleteMessageBatchCommand({
                QueueUrl: url,
                Entries: m.map((x, i) => ({ Id: String(i), ReceiptHandle: x.ReceiptHandle! })),
              }),
            );
            // The other long-polls may still be waiting out their wait time: the drain ended here.
            if (got >= count && drainedAt === 0) drainedAt = Date.now();
          }
        }
      }),
    );
    return { sendMs, drainMs: drainedAt - t0 };
  } finally {
    await sqs.send(new DeleteQueueCommand({ QueueUrl: url })).catch(() => {});
  }
}

async function main() {
  const setupStart = Date.now();
  const ns = run;
  // Every pod opted in through its namespace: the burst yields migrate-pod jobs plus one finalize-node per node.
  await core.createNamespace({
    body: { metadata: { name: ns, labels: { 'spot-rescue.io/migrate': 'enabled' } } },
  });
  const dlq = await sqs.send(new CreateQueueCommand({ QueueName: `${run}-dlq` }));
  const q = await sqs.send(new CreateQueueCommand({ QueueName: run }));
  const queueUrl = q.QueueUrl!;
  const dlqUrl = dlq.QueueUrl!;
  const prefix = run;
  let stop: (() => Promise<void>) | undefined;
  const burstNodes: SimNode[] = [];
  const idleNodes: SimNode[] = [];
  try {
    burstNodes.push(...(await makeNodes(NODES, 'b')));
    idleNodes.push(...(await makeNodes(IDLE, 'i')));
    await makePods(ns, [...burstNodes, ...idleNodes]);
    await settled([...burstNodes, ...idleNodes]);
    console.log(
      `setup: ${burstNodes.length + idleNodes.length} nodes, ${(burstNodes.length + idleNodes.length) * PODS} pods in ${((Date.now() - setupStart) / 1000).toFixed(1)} s`,
    );

    const config = readConfig(listenerSettings, {
      ...process.env,
      SPOT_RESCUE_QUEUE_URL: queueUrl,
      SPOT_RESCUE_DLQ_URL: dlqUrl,
      SPOT_RESCUE_QUEUE_PREFIX: prefix,
      SPOT_RESCUE_LOG_LEVEL: 'warn',
      SPOT_RESCUE_JOB_SIGNING_KEY_FILE: newJobSigningKeyFile(),
    });
    globalThis.gc?.();
    const heapBefore = heapMiB();
    const sentAt = new Map<string, number>();
    const handled = new Map<string, HandledNode & { sentAt: number }>();
    let onHandled: (() => void) | undefined;
    const running = await startListenerService(config, {
      log: createLogger('listener', 'warn'),
      onHandled: (h) => {
        handled.set(h.instanceId, { ...h, sentAt: sentAt.get(h.instanceId) ?? Number.NaN });
        onHandled?.();
      },
    });
    stop = running.stop;
    globalThis.gc?.();
    // The listener started once its caches had synced: this is what it holds for the cluster's nodes and pods.
    const listenerHeapMiB = heapMiB() - heapBefore;
    // Bounded, so a listener that never reports a node fails the run instead of holding the stack.
    const until = (done: () => boolean, what: string, timeoutMs = 5 * 60_000) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`not ${what} after ${timeoutMs} ms`)), timeoutMs);
        const check = () => {
          if (!done()) return;
          clearTimeout(timer);
          resolve();
        };
        onHandled = check;
        check();
      });

    // Baseline: one event at a time on an idle listener.
    const idleLatency: number[] = [];
    const idleListener: number[] = [];
    for (const n of idleNodes) {
      await new Promise((r) => setTimeout(r, 200));
      const t = Date.now();
      sentAt.set(n.instanceId, t);
      await sendAll(queueUrl, [spotWarning(n.instanceId)]);
      // By this node, not by a count: the listener may have handled it before the send returned.
      await until(() => handled.has(n.instanceId), `handled ${n.name}`);
      const h = handled.get(n.instanceId)!;
      idleLatency.push(h.enqueuedAt.getTime() - t);
      idleListener.push(h.enqueuedAt.getTime() - h.receivedAt.getTime());
    }
    handled.clear();

    const raw = await rawSqsDrain(burstNodes.length, config.pollers);

    // The burst.
    const redisBefore = await redisCommands();
    const patchesBefore = await nodePatchCalls().catch(() => ({}));
    const ownPatchesBefore = await listenerPatches(running.registry);
    const bodies = burstNodes.map((n) => spotWarning(n.instanceId));
    const t0 = Date.now();
    for (const n of burstNodes) sentAt.set(n.instanceId, t0);
    await sendAll(queueUrl, bodies);
    const sendMs = Date.now() - t0;
    await until(() => handled.size >= burstNodes.length, 'handled every node of the burst');
    // Done = cordoned and enqueued (the listener does both before it reports a node).
    const lastDone = Math.max(...[...handled.values()].map((h) => h.doneAt.getTime()));
    const burstMs = lastDone - t0;
    const redisDuring = (await redisCommands()) - redisBefore;
    const ownPatches = minus(await listenerPatches(running.registry), ownPatchesBefore);
    await controllerAnswered(burstNodes);
    const patchesDuring = minus(await nodePatchCalls().catch(() => ({})), patchesBefore);
    const burstLatency = [...handled.values()].map((h) => h.enqueuedAt.getTime() - h.sentAt);
    const burstListener = [...handled.values()].map((h) => h.enqueuedAt.getTime() - h.receivedAt.getTime());
    const stepNames = ['queued', 'claim', 'plan', 'taint', 'enqueue'] as const;
    const steps = (p: number) =>
      Object.fromEntries([
        [
          'sqsWait',
          ms(
            percentile(
              [...handled.values()].map((h) => h.receivedAt.getTime() - h.sentAt),
              p,
            ),
          ),
        ],
        ...stepNames.map((k) => [
          k,
          ms(
            percentile(
              [...handled.values()].map((h) => h.stepsMs[k]),
              p,
            ),
          ),
        ]),
      ]);

    // Check the outcome against the API server and Redis, not only the listener's word.
    const nodes = await core.listNode({ labelSelector: `spot-rescue.io/bench=${run}` });
    const cordoned = nodes.items.filter(
      (n) =>
        burstNodes.some((b) => b.name === n.metadata?.name) &&
        n.spec?.unschedulable === true &&
        n.spec.taints?.some((t) => t.key === TAINT_KEY && t.value === 'spot-interruption'),
    ).length;
    const rescue = new Queue('rescue', { connection: redis, prefix });
    const finalize = new Queue('finalize', { connection: redis, prefix });
    const jobs =
      (await rescue.getJobCountByTypes('prioritized', 'waiting')) +
      (await finalize.getJobCountByTypes('prioritized', 'waiting'));
    const expectedJobs = (burstNodes.length + idleNodes.length) * (PODS + 1);
    const depth = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: queueUrl,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );

    const result = {
      nodes: burstNodes.length,
      podsPerNode: PODS,
      pods: burstNodes.length * PODS,
      burst: {
        sendMs,
        allCordonedAndEnqueuedMs: burstMs,
        eventToEnqueueMs: {
          p50: ms(percentile(burstLatency, 50)),
          p99: ms(percentile(burstLatency, 99)),
          max: ms(Math.max(...burstLatency)),
        },
        receiveToEnqueueMs: {
          p50: ms(percentile(burstListener, 50)),
          p99: ms(percentile(burstListener, 99)),
        },
        stepsMs: { p50: steps(50), p99: steps(99) },
        nodesCordoned: cordoned,
        jobsInRedis: jobs,
        jobsExpected: expectedJobs,
      },
      idleBaseline: {
        events: idleLatency.length,
        eventToEnqueueMs: { p50: ms(percentile(idleLatency, 50)), p99: ms(percentile(idleLatency, 99)) },
        receiveToEnqueueMs: { p50: ms(percentile(idleListener, 50)), p99: ms(percentile(idleListener, 99)) },
      },
      rawSqsBaseline: { messages: burstNodes.length, pollers: config.pollers, ...raw },
      growth: {
        listenerHeapMiB: ms(listenerHeapMiB),
        listenerHeapKiBPerPod: ms((listenerHeapMiB * 1024) / ((burstNodes.length + idleNodes.length) * PODS)),
        redisCommandsDuringBurst: redisDuring,
        redisCommandsPerNode: ms(redisDuring / burstNodes.length),
        listenerNodePatchesDuringBurst: ownPatches,
        listenerNodePatchesPerNode: ms(total(ownPatches) / burstNodes.length),
        apiServerNodePatchesByCode: patchesDuring,
        apiServerNodePatchesPerNode: ms(total(patchesDuring) / burstNodes.length),
      },
      ratios: {
        burstOverRawSqsDrain: ms(burstMs / raw.drainMs),
        burstP50OverIdleP50: ms(percentile(burstLatency, 50) / percentile(idleLatency, 50)),
        burstPerNodeMsOverIdleP50: ms(burstMs / burstNodes.length / percentile(idleLatency, 50)),
      },
      targets: { burstUnderMs: 5000, idleP99UnderMs: 250, burstOverRawSqsDrainAtMost: 1.2 },
      queueLeft:
        Number(depth.Attributes?.ApproximateNumberOfMessages ?? 0) +
        Number(depth.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0),
      at: new Date().toISOString(),
    };
    console.log(
      [
        `burst of ${result.nodes} spot warnings (${result.pods} pods):`,
        `  every node cordoned and every job enqueued after ${burstMs} ms (target < 5000 ms); sending took ${sendMs} ms`,
        `  event-to-enqueue p50 ${result.burst.eventToEnqueueMs.p50} ms, p99 ${result.burst.eventToEnqueueMs.p99} ms (receive-to-enqueue p50 ${result.burst.receiveToEnqueueMs.p50}, p99 ${result.burst.receiveToEnqueueMs.p99})`,
        `  steps p50 ${JSON.stringify(result.burst.stepsMs.p50)}`,
        `  steps p99 ${JSON.stringify(result.burst.stepsMs.p99)}`,
        `  nodes cordoned ${cordoned}/${result.nodes}; jobs in Redis ${jobs}/${expectedJobs}`,
        `idle listener, ${result.idleBaseline.events} single events:`,
        `  event-to-enqueue p50 ${result.idleBaseline.eventToEnqueueMs.p50} ms, p99 ${result.idleBaseline.eventToEnqueueMs.p99} ms (target p99 < 250 ms); receive-to-enqueue p50 ${result.idleBaseline.receiveToEnqueueMs.p50}, p99 ${result.idleBaseline.receiveToEnqueueMs.p99}`,
        `baseline, the stack's SQS alone: ${result.nodes} messages sent in ${raw.sendMs} ms, sent and drained (no work, ${config.pollers} long-polls) in ${raw.drainMs} ms`,
        `ratios: burst / raw SQS drain ${result.ratios.burstOverRawSqsDrain}x (target <= 1.2x); burst p50 / idle p50 ${result.ratios.burstP50OverIdleP50}`,
        `what grows with size: listener heap ${result.growth.listenerHeapMiB} MiB after sync (${result.growth.listenerHeapKiBPerPod} KiB per pod); ` +
          `Redis ${result.growth.redisCommandsPerNode} commands per node (${redisDuring} in the burst, every client of the shared Redis); ` +
          `listener node PATCH ${result.growth.listenerNodePatchesPerNode} per node (${JSON.stringify(ownPatches)}); ` +
          `all node PATCH at the API server ${result.growth.apiServerNodePatchesPerNode} per node, the node controller's answer to each cordon included (by code ${JSON.stringify(patchesDuring)})`,
      ].join('\n'),
    );
    mkdirSync(dirname(args.json!), { recursive: true });
    writeFileSync(args.json!, `${JSON.stringify(result, null, 2)}\n`);
    console.log(`wrote ${args.json}`);
    await rescue.close();
    await finalize.close();
  } finally {
    await stop?.();
    const cleanupStart = Date.now();
    // Pods first and without grace: on a deleted node nothing would confirm a graceful deletion.
    // A large collection can outlast the API server's request timeout: repeat until none is left.
    for (let i = 0; i < 20; i++) {
      await core.deleteCollectionNamespacedPod({ namespace: ns, gracePeriodSeconds: 0 }).catch(() => {});
      const left = await core.listNamespacedPod({ namespace: ns, limit: 1 }).catch(() => undefined);
      if (left && left.items.length === 0) break;
    }
    await pool([...burstNodes, ...idleNodes], 32, (n) => core.deleteNode({ name: n.name }).catch(() => {}));
    await core.deleteNamespace({ name: ns }).catch(() => {});
    for (const name of ['rescue', 'evict', 'finalize']) {
      const qq = new Queue(name, { connection: redis, prefix });
      await qq.obliterate({ force: true }).catch(() => {});
      await qq.close();
    }
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
    await sqs.send(new DeleteQueueCommand({ QueueUrl: queueUrl })).catch(() => {});
    await sqs.send(new DeleteQueueCommand({ QueueUrl: dlqUrl })).catch(() => {});
    redis.disconnect();
    sqs.destroy();
    console.log(`cleaned up in ${((Date.now() - cleanupStart) / 1000).toFixed(1)} s`);
  }
}

await main();
process.exit(0);
