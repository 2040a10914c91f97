/**
 * Simulation only. spot-rescue as the chart runs it, on the stack's real
 * nodes: one kubelet-runtime agent per real node (RealNodeBed.startAgent), a
 * listener reading its own SQS queue and a worker finding the agents by a
 * static map, each a real `spot-rescue <service>` process. Used by
 * `scripts/demo --real-nodes` and the worker-rescue e2e test.
 */
import { join } from 'node:path';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { type CoreV1Api, PatchStrategy, setHeaderOptions, type V1Pod } from '@kubernetes/client-node';
import { newJobSigningKeyFile } from '../../services/common/job-signing-key.js';
import { NAMESPACE_OPT_IN_LABEL, TAINT_KEY } from '../../services/common/labels.js';
import { ensureQueues, type RescueQueues } from './aws-resources.js';
import { buildEvent } from './events.js';
import type { AgentHandle } from './local-agent.js';
import { counterCommand, type RealNodeBed, uniqueName } from './real-node-bed.js';
import type { RealNode } from './real-nodes-env.js';
import { type ServiceProcess, startService } from './service-process.js';
import { localStackClients } from './stack-clients.js';

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export interface RealRescue {
  agents: Map<string, AgentHandle>;
  listener: ServiceProcess;
  worker: ServiceProcess;
  queues: RescueQueues;
  queuePrefix: string;
  /** Sends an EC2 Spot Instance Interruption Warning for the instance, as EventBridge delivers it. */
  interrupt(instanceId: string, time?: Date): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Agents on the bed's real nodes (`agentEnv` adds settings per node name),
 * then a listener and a worker on a queue and a Redis prefix of their own.
 */
export async function startRealRescue(
  bed: RealNodeBed,
  o: { agentEnv?: Record<string, Record<string, string>>; workerEnv?: Record<string, string> } = {},
): Promise<RealRescue> {
  const all: ServiceProcess[] = [];
  const stop = async () => {
    for (const s of [...all].reverse()) await s.stop().catch(() => {});
  };
  try {
    const agents = new Map<string, AgentHandle>();
    for (const a of await Promise.all(
      bed.env.nodes.map((n) => bed.startAgent(n, o.agentEnv?.[n.name] ?? {})),
    )) {
      agents.set(a.node, a);
    }
    const queuePrefix = uniqueName('rn-rescue');
    const { sqs } = localStackClients();
    const queues = await ensureQueues(sqs, queuePrefix);
    const shared = {
      SPOT_RESCUE_CLUSTER_NAME: 'real-nodes',
      SPOT_RESCUE_QUEUE_PREFIX: queuePrefix,
      SPOT_RESCUE_OPS_HOST: '127.0.0.1',
      SPOT_RESCUE_OPS_PORT: '0',
      SPOT_RESCUE_LOG_LEVEL: 'info',
      SPOT_RESCUE_JOB_SIGNING_KEY_FILE: newJobSigningKeyFile(),
    };
    const listener = startService(
      'listener',
      'listener',
      {
        ...shared,
        SPOT_RESCUE_QUEUE_URL: queues.queueUrl,
        SPOT_RESCUE_DLQ_URL: queues.dlqUrl,
        // The nodes that tests running beside this one taint on the shared stack
        // would look jobless to this install and be re-planned; replan.test.ts tests it.
        SPOT_RESCUE_LISTENER_REPLAN_INTERVAL_SECONDS: '0',
      },
      join(bed.dir, 'listener.log'),
    );
    all.push(listener);
    const worker = startService(
      'worker',
      'worker',
      {
        ...shared,
        SPOT_RESCUE_S3_BUCKET: bed.bucket,
        SPOT_RESCUE_AGENT_LOCATOR: 'static',
        SPOT_RESCUE_AGENT_ENDPOINTS: [...agents].map(([n, a]) => `${n}=${a.url}`).join(','),
        SPOT_RESCUE_WORKER_SERVICE_ACCOUNT: bed.worker.serviceAccount,
        ...o.workerEnv,
      },
      join(bed.dir, 'worker.log'),
    );
    all.push(worker);
    await listener.waitForLine((l) => l.msg === 'listening', 120_000);
    await worker.waitForLine((l) => l.msg === 'worker started', 120_000);
    return {
      agents,
      listener,
      worker,
      queues,
      queuePrefix,
      async interrupt(instanceId, time = new Date()) {
        await sqs.send(
          new SendMessageCommand({
            QueueUrl: queues.queueUrl,
            MessageBody: JSON.stringify(buildEvent('spot-interruption', { instanceId, time })),
          }),
        );
      },
      async stop() {
        await stop();
        for (const a of agents.values()) await a.stop().catch(() => {});
      },
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Opts the bed's namespace in, as a platform team labels the namespaces it wants rescued. */
export async function optInNamespace(bed: RealNodeBed): Promise<void> {
  await bed.core.patchNamespace(
    { name: bed.namespace, body: { metadata: { labels: { [NAMESPACE_OPT_IN_LABEL]: 'enabled' } } } },
    mergePatch,
  );
}

/**
 * A Deployment (one replica, opted in) of the counter workload on the real
 * nodes, preferring `on`: unlike RealNodeBed.deployCounter it is not pinned
 * to a node, so the worker may restore it elsewhere and its ReplicaSet may
 * recreate it on the other real node. Returns its running pod.
 */
export async function deployRescuable(
  bed: RealNodeBed,
  name: string,
  on: RealNode,
  mib: number,
): Promise<V1Pod> {
  const pod = await bed.deployOptedIn(
    name,
    {
      nodeSelector: { 'spot-rescue.io/real-node': 'true' },
      affinity: {
        nodeAffinity: {
          preferredDuringSchedulingIgnoredDuringExecution: [
            {
              weight: 100,
              preference: {
                matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [on.name] }],
              },
            },
          ],
        },
      },
    },
    {
      command: counterCommand(mib),
      resources: { requests: { cpu: '10m', memory: `${mib + 32}Mi` } },
    },
  );
  if (pod.spec?.nodeName !== on.name)
    throw new Error(
      `${name} was scheduled on ${pod.spec?.nodeName}, not ${on.name}: is ${on.name} cordoned?`,
    );
  return pod;
}

/** Takes the listener's taint and cordon off a real node (the stack's nodes outlive a test). */
export async function clearInterruption(core: CoreV1Api, node: string): Promise<void> {
  const n = await core.readNode({ name: node });
  const taints = n.spec?.taints ?? [];
  const kept = taints.filter((t) => t.key !== TAINT_KEY);
  if (kept.length === taints.length && !n.spec?.unschedulable) return;
  await core.patchNode({ name: node, body: { spec: { taints: kept, unschedulable: false } } }, mergePatch);
}
