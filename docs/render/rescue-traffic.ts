import { PurgeQueueCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { callAgent } from '../../infra/sim/agent-call.js';
import { ensureBucket, ensureQueues } from '../../infra/sim/aws-resources.js';
import {
  createSimNodes,
  deleteSimNodes,
  SIM_NODE_LABEL,
  type SimDeps,
  type SimNode,
} from '../../infra/sim/cluster.js';
import { parseCounterProgress } from '../../infra/sim/counter-progress.js';
import { buildEvent } from '../../infra/sim/events.js';
import type { AgentHandle } from '../../infra/sim/local-agent.js';
import { type RescueDeployment, startRescueDeployment } from '../../infra/sim/rescue-deployment.js';
import { removeSimNodeState } from '../../infra/sim/sim-node-state.js';
import { createWorkerIdentity } from '../../infra/sim/worker-identity.js';
import { createEc2Client, createS3Client, createSqsClient } from '../../services/common/aws.js';
import { commonSettings, readConfig } from '../../services/common/config.js';
import { loadKubeConfig } from '../../services/common/kube.js';
import {
  MIGRATE_ANNOTATION,
  NAMESPACE_OPT_IN_LABEL,
  NAMESPACE_OPT_IN_VALUE,
} from '../../services/common/labels.js';
import { createRedisConnection, scanTargets } from '../../services/common/redis.js';
import { freePort, type ScrapeJob } from './prometheus.js';

/**
 * Real rescues for the dashboard to show: the demo's deployment (an agent
 * per simulated node with runc + CRIU, the listener, the worker; see
 * infra/sim/rescue-deployment.ts) on its own simulated cluster, and a Spot
 * interruption warning through SQS every few seconds, each for a node that
 * runs a real stateful process (migrated) and, on every other node, a pod not
 * opted in (evicted, as a plain drain would). Two warnings carry an empty
 * `time` (acted on leniently) and one message is malformed (dead-lettered),
 * so those panels show what they are for.
 */

const CLUSTER = 'dashboard';
const NAMESPACE = 'dashboard';
const PLAIN_NAMESPACE = 'dashboard-plain';
const SYSTEM_NAMESPACE = 'spot-rescue-system';
const BUCKET = 'spot-rescue-dashboard-archives';
const QUEUE = 'spot-rescue-dashboard';
const CONTAINER = 'counter';

export interface TrafficOptions {
  interruptions: number;
  gapSeconds: number;
  memoryMib: number;
  stateDir: string;
  logDir: string;
  say: (text: string) => void;
}

export interface RescueTraffic {
  scrapeJobs: ScrapeJob[];
  /** Sends the warnings, one every gap, and resolves when every interrupted node is finalized. */
  run(): Promise<{ finalized: number; restored: number }>;
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  for (const end = Date.now() + timeoutMs; Date.now() < end; ) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    await sleep(200);
  }
  throw new Error(`timed out waiting for ${what}`);
}

export async function startRescueTraffic(o: TrafficOptions): Promise<RescueTraffic> {
  const cfg = readConfig(commonSettings);
  if (!cfg.awsEndpoint || !cfg.kubeconfig)
    throw new Error('the local stack environment is missing: eval "$(infra/stack env)" first');
  const kc = loadKubeConfig(cfg.kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  const ec2 = createEc2Client(cfg);
  const sqs = createSqsClient(cfg);

  const cleanUp = () => removeTraffic({ kc, ec2 }, o.stateDir);
  await cleanUp();

  const nodes = await createSimNodes(
    { kc, ec2 },
    {
      cluster: CLUSTER,
      count: o.interruptions + 2,
      spec: (i) =>
        i < o.interruptions
          ? {
              zone: i % 2 ? 'us-east-1b' : 'us-east-1a',
              capacityType: 'spot' as const,
              nodeGroup: 'spot',
              // Room for its own workload only: rescued pods go to the on-demand nodes, not to a Spot node
              // whose warning is still to come.
              memory: `${o.memoryMib + 64 + 32}Mi`,
            }
          : { zone: 'us-east-1b', capacityType: 'on-demand' as const, nodeGroup: 'on-demand' },
    },
  );
  const doomed = nodes.slice(0, o.interruptions);
  for (const [name, labels] of [
    [SYSTEM_NAMESPACE, {}],
    [NAMESPACE, { [NAMESPACE_OPT_IN_LABEL]: NAMESPACE_OPT_IN_VALUE }],
    [PLAIN_NAMESPACE, {}],
  ] as const)
    await core.createNamespace({ body: { metadata: { name, labels } } }).catch((err) => {
      if ((err as { code?: number }).code !== 409) throw err;
    });
  await ensureBucket(createS3Client(cfg), BUCKET);
  const queues = await ensureQueues(sqs, QUEUE);
  // The DLQ gauge is read from SQS: what an earlier run left there is not this run's.
  for (const url of [queues.queueUrl, queues.dlqUrl])
    await sqs.send(new PurgeQueueCommand({ QueueUrl: url })).catch(() => undefined);
  const worker = await createWorkerIdentity(kc, SYSTEM_NAMESPACE);
  const workerOpsPort = await freePort();
  // A prefix of its own: no job an earlier run left in Redis shows up in this run's figures.
  const queuePrefix = `spot-rescue-dashboard-${Date.now().toString(36)}`;
  const removeQueues = () => removeRedisKeys(cfg.redisUrl, queuePrefix);
  const deployment: RescueDeployment = await startRescueDeployment({
    cluster: CLUSTER,
    queuePrefix,
    nodes,
    queues,
    bucket: BUCKET,
    worker,
    stateDir: o.stateDir,
    logDir: o.logDir,
    // All agents in one process: each keeps its own port, runc root and metrics registry.
    agentsPerProcess: nodes.length,
    workerEnv: { SPOT_RESCUE_OPS_PORT: String(workerOpsPort) },
  });
  try {
    o.say(`started ${deployment.agents.size} agents (runc + CRIU), the listener and the worker`);
    const listenerOps = await deployment.listener.waitForLine((l) => l.msg === 'ops server listening');

    // The workloads: a stateful process on every doomed node, and a pod not opted in on every other one.
    for (const [i, node] of doomed.entries()) {
      const pod = await core.createNamespacedPod({
        namespace: NAMESPACE,
        body: {
          metadata: {
            name: `counter-${i}`,
            labels: { app: 'counter' },
            annotations: { [MIGRATE_ANNOTATION]: 'true' },
          },
          spec: {
            nodeName: node.name,
            containers: [
              {
                name: CONTAINER,
                image: 'registry.local/counter:1',
                resources: { requests: { cpu: '100m', memory: `${o.memoryMib + 64}Mi` } },
              },
            ],
          },
        },
      });
      const agent = deployment.agents.get(node.name) as AgentHandle;
      const started = await callAgent(
        agent.url,
        await worker.tokenFor(node.name),
        'POST',
        '/v1/local/containers',
        {
          namespace: NAMESPACE,
          pod: pod.metadata?.name,
          podUid: pod.metadata?.uid,
          container: CONTAINER,
          args: ['/usr/local/bin/counter', String(o.memoryMib), '/state/progress'],
        },
      );
      if (started.status !== 201)
        throw new Error(`could not start a workload: ${JSON.stringify(started.body)}`);
      await waitFor(`counter-${i} to fill its memory`, async () => {
        const r = await callAgent<{ progress?: string }>(
          agent.url,
          await worker.tokenFor(node.name),
          'GET',
          `/v1/local/containers/${NAMESPACE}/counter-${i}/${CONTAINER}`,
        );
        const p = r.body.progress ? parseCounterProgress(r.body.progress) : undefined;
        return p && (p['sweeps'] ?? 0) >= 1 ? true : undefined;
      });
      if (i % 2 === 1)
        await core.createNamespacedPod({
          namespace: PLAIN_NAMESPACE,
          body: {
            metadata: { name: `plain-${i}` },
            spec: { nodeName: node.name, containers: [{ name: 'app', image: 'registry.local/plain:1' }] },
          },
        });
    }
    o.say(`${doomed.length} stateful workloads running, ${Math.floor(doomed.length / 2)} pods not opted in`);

    const send = (body: string) =>
      sqs.send(new SendMessageCommand({ QueueUrl: queues.queueUrl, MessageBody: body }));
    return {
      scrapeJobs: [
        { job: 'spot-rescue-listener', urls: [`http://127.0.0.1:${listenerOps['port']}`] },
        { job: 'spot-rescue-worker', urls: [`http://127.0.0.1:${workerOpsPort}`] },
        { job: 'spot-rescue-agent', urls: [...deployment.agents.values()].map((a) => a.url) },
      ],
      async run() {
        for (const [i, node] of doomed.entries()) {
          if (i > 0) await sleep(o.gapSeconds * 1000);
          const event = buildEvent('spot-interruption', { instanceId: node.instanceId }) as { time: string };
          // An empty time is acted on with the receipt time, and counted.
          if (i % 2 === 1) event.time = '';
          await send(JSON.stringify(event));
          o.say(
            `Spot interruption warning for ${node.name} (${node.instanceId})${event.time ? '' : ', empty time'}`,
          );
          if (i === 1) {
            await send('{"detail-type": "EC2 Spot Instance Interruption Warning"');
            o.say('a malformed message (dead-lettered)');
          }
        }
        const finalized = await waitFor(
          'every interrupted node to be finalized',
          async () => {
            const done = deployment.worker.lines.filter((l) => l.msg === 'node finalized');
            return done.length >= doomed.length ? done.length : undefined;
          },
          180_000,
        );
        const restored = deployment.worker.lines.filter((l) => l.msg === 'restored on target agent').length;
        return { finalized, restored };
      },
      stop: async () => {
        await deployment.stop();
        await cleanUp();
        await removeQueues();
      },
    };
  } catch (err) {
    await deployment.stop();
    await cleanUp();
    await removeQueues();
    throw err;
  }
}

/**
 * Removes what a run leaves on the stack: the simulated nodes' runc
 * containers (the restored processes; nothing plays the kubelet that would
 * stop them), the pods, the nodes and their instances. Run before (a previous
 * run's leftovers) and after.
 */
async function removeTraffic(deps: SimDeps, stateDir: string): Promise<void> {
  const core = deps.kc.makeApiClient(CoreV1Api);
  const old = await core.listNode({ labelSelector: `${SIM_NODE_LABEL}=${CLUSTER}` });
  const nodes = old.items.map((n) => ({
    name: n.metadata?.name as string,
    instanceId: n.spec?.providerID?.split('/').pop() as string,
  })) as SimNode[];
  await removeSimNodeState(
    stateDir,
    nodes.map((n) => n.name),
  );
  for (const namespace of [NAMESPACE, PLAIN_NAMESPACE]) {
    const pods = await core.listNamespacedPod({ namespace }).catch(() => ({ items: [] as V1Pod[] }));
    for (const p of pods.items)
      await core
        .deleteNamespacedPod({ name: p.metadata?.name as string, namespace, gracePeriodSeconds: 0 })
        .catch(() => undefined);
  }
  await deleteSimNodes(deps, nodes);
}

/** Deletes this run's queues, jobs and claims from Redis. */
async function removeRedisKeys(url: string, prefix: string): Promise<void> {
  const redis = createRedisConnection(url, { maxRetriesPerRequest: 3 });
  try {
    for (const node of scanTargets(redis)) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
        for (const key of keys) await redis.del(key);
        cursor = next;
      } while (cursor !== '0');
    }
  } finally {
    redis.disconnect();
  }
}
