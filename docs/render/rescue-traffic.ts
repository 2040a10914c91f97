import { buildEvent } from '../../infra/sim/events.js';
import { type RescueDemoSpec, removeRescueDemo, setUpRescueDemo } from '../../infra/sim/rescue-demo-setup.js';
import { localStackClients } from '../../infra/sim/stack-clients.js';
import { waitFor } from '../../infra/sim/wait-for.js';
import { createRedisConnection, scanTargets } from '../../services/common/redis.js';
import { freePort, type ScrapeJob } from './prometheus.js';

/**
 * Real rescues for the dashboard to show: the demo's deployment (an agent
 * per simulated node with runc + CRIU, the listener, the worker; see
 * infra/sim/rescue-demo-setup.ts) on its own simulated cluster, and a Spot
 * interruption warning through SQS every few seconds, each for a node that
 * runs a real stateful process (migrated) and, on every other node, a pod not
 * opted in (evicted, as a plain drain would). Two warnings carry an empty
 * `time` (acted on leniently) and one message is malformed (dead-lettered),
 * so those panels show what they are for.
 */

const PLAIN_NAMESPACE = 'dashboard-plain';

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

export async function startRescueTraffic(o: TrafficOptions): Promise<RescueTraffic> {
  const clients = localStackClients();
  const workerOpsPort = await freePort();
  const spec: RescueDemoSpec = {
    cluster: 'dashboard',
    namespace: 'dashboard',
    plainNamespaces: [PLAIN_NAMESPACE],
    bucket: 'spot-rescue-dashboard-archives',
    queue: 'spot-rescue-dashboard',
    // A prefix of its own: no job an earlier run left in Redis shows up in this run's figures.
    queuePrefix: `spot-rescue-dashboard-${Date.now().toString(36)}`,
    stateDir: o.stateDir,
    nodeCount: o.interruptions + 2,
    nodeSpec: (i) =>
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
    // The DLQ gauge is read from SQS: what an earlier run left there is not this run's.
    purgeQueues: true,
    deployment: {
      logDir: o.logDir,
      // All agents in one process: each keeps its own port, runc root and metrics registry.
      agentsPerProcess: o.interruptions + 2,
      workerEnv: { SPOT_RESCUE_OPS_PORT: String(workerOpsPort) },
    },
  };
  const demo = await setUpRescueDemo(clients, spec);
  const { deployment } = demo;
  const doomed = demo.nodes.slice(0, o.interruptions);
  const cleanUp = async () => {
    await demo.stop();
    await removeRescueDemo(clients, spec);
    await removeRedisKeys(clients.config.redisUrl, spec.queuePrefix);
  };
  try {
    o.say(`started ${deployment.agents.size} agents (runc + CRIU), the listener and the worker`);
    const listenerOps = await deployment.listener.waitForLine((l) => l.msg === 'ops server listening');

    // The workloads: a stateful process on every doomed node, and a pod not opted in on every other one.
    for (const [i, node] of doomed.entries()) {
      await demo.startCounter(node.name, { pod: `counter-${i}`, memoryMib: o.memoryMib, cpu: '100m' });
      if (i % 2 === 1)
        await clients.core.createNamespacedPod({
          namespace: PLAIN_NAMESPACE,
          body: {
            metadata: { name: `plain-${i}` },
            spec: { nodeName: node.name, containers: [{ name: 'app', image: 'registry.local/plain:1' }] },
          },
        });
    }
    o.say(`${doomed.length} stateful workloads running, ${Math.floor(doomed.length / 2)} pods not opted in`);

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
          await demo.send(JSON.stringify(event));
          o.say(
            `Spot interruption warning for ${node.name} (${node.instanceId})${event.time ? '' : ', empty time'}`,
          );
          if (i === 1) {
            await demo.send('{"detail-type": "EC2 Spot Instance Interruption Warning"');
            o.say('a malformed message (dead-lettered)');
          }
        }
        const finalized = await waitFor(
          'every interrupted node to be finalized',
          async () => {
            const done = deployment.worker.lines.filter((l) => l.msg === 'node finalized');
            return done.length >= doomed.length ? done.length : undefined;
          },
          { timeoutMs: 180_000, intervalMs: 200 },
        );
        const restored = deployment.worker.lines.filter((l) => l.msg === 'restored on target agent').length;
        return { finalized, restored };
      },
      stop: cleanUp,
    };
  } catch (err) {
    await cleanUp();
    throw err;
  }
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
