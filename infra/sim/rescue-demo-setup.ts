import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { PurgeQueueCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import type { V1Pod } from '@kubernetes/client-node';
import { NAMESPACE_OPT_IN_LABEL, NAMESPACE_OPT_IN_VALUE } from '../../services/common/labels.js';
import { ensureBucket, ensureQueues, type RescueQueues } from './aws-resources.js';
import { createSimNodes, deleteSimNodes, SIM_NODE_LABEL, type SimNode, type SimNodeSpec } from './cluster.js';
import { type CounterProgress, readCounterProgress, startCounterWorkload } from './counter-workload.js';
import type { AgentHandle } from './local-agent.js';
import {
  type RescueDeployment,
  type RescueDeploymentOptions,
  startRescueDeployment,
} from './rescue-deployment.js';
import { removeSimNodeState } from './sim-node-state.js';
import type { StackClients } from './stack-clients.js';
import { waitFor } from './wait-for.js';
import { createWorkerIdentity, type WorkerIdentity } from './worker-identity.js';

/**
 * Simulation only. What scripts/demo.ts, the dashboard render
 * (docs/render/rescue-traffic.ts) and the window benchmark (bench/window.ts) stand up before their Spot
 * interruptions: a simulated cluster of its own, cleared of what a previous
 * run left, its namespaces, queue and bucket in moto, the worker's
 * ServiceAccount, spot-rescue deployed on it (rescue-deployment.ts), and a
 * way to run the stateful counter on its nodes.
 */

export interface RescueDemoSpec {
  /** Names the simulated cluster: its nodes are `<cluster>-<i>` and carry it as a label. */
  cluster: string;
  /** The opted-in namespace the counters run in. */
  namespace: string;
  /** Namespaces for pods not opted in; emptied before a run like the counters' one. */
  plainNamespaces?: string[];
  /** Where the worker's ServiceAccount lives. */
  systemNamespace?: string;
  bucket: string;
  queue: string;
  /** The listener's and worker's Redis key prefix. */
  queuePrefix: string;
  /** The stack's state directory: the simulated nodes' files live under it. */
  stateDir: string;
  nodeCount: number;
  nodeSpec: (index: number) => Partial<SimNodeSpec>;
  /** Empty the queue and its DLQ first: what an earlier run left there is not this run's. */
  purgeQueues?: boolean;
  /** Passed on to startRescueDeployment (restoreOnlyNodes by node name: `<cluster>-<index>`). */
  deployment?: Pick<
    RescueDeploymentOptions,
    'logDir' | 'agentsPerProcess' | 'workerEnv' | 'agentEnv' | 'restoreOnlyNodes'
  >;
}

export interface RescueDemo {
  clients: StackClients;
  nodes: SimNode[];
  queues: RescueQueues;
  worker: WorkerIdentity;
  deployment: RescueDeployment;
  agentOf(node: string): AgentHandle;
  /** An opted-in counter pod on `node`, resolved once its memory is full (see startCounterWorkload). */
  startCounter(
    node: string,
    o: { pod: string; memoryMib: number; cpu: string },
  ): Promise<{ pod: V1Pod; warm: CounterProgress }>;
  counterProgress(node: string, pod: string): Promise<CounterProgress | undefined>;
  /** Puts a message on the queue EventBridge targets. */
  send(body: string): Promise<void>;
  /** Stops the services; the cluster stays (removeRescueDemo clears it, as the next run does). */
  stop(): Promise<void>;
}

/** Clears what a previous run of this spec left, then sets the demo up (see the file's comment). */
export async function setUpRescueDemo(clients: StackClients, spec: RescueDemoSpec): Promise<RescueDemo> {
  const { kc, core, ec2, s3, sqs } = clients;
  await removeRescueDemo(clients, spec);
  const nodes = await createSimNodes(
    { kc, ec2 },
    { cluster: spec.cluster, count: spec.nodeCount, spec: spec.nodeSpec },
  );
  const systemNamespace = spec.systemNamespace ?? 'spot-rescue-system';
  for (const [name, labels] of [
    [systemNamespace, {}],
    [spec.namespace, { [NAMESPACE_OPT_IN_LABEL]: NAMESPACE_OPT_IN_VALUE }],
    ...(spec.plainNamespaces ?? []).map((n) => [n, {}] as const),
  ] as const)
    await core.createNamespace({ body: { metadata: { name, labels } } }).catch((err) => {
      if ((err as { code?: number }).code !== 409) throw err;
    });
  await ensureBucket(s3, spec.bucket);
  const queues = await ensureQueues(sqs, spec.queue);
  if (spec.purgeQueues)
    for (const url of [queues.queueUrl, queues.dlqUrl])
      await sqs.send(new PurgeQueueCommand({ QueueUrl: url })).catch(() => undefined);
  const worker = await createWorkerIdentity(kc, systemNamespace);
  const deployment = await startRescueDeployment({
    cluster: spec.cluster,
    queuePrefix: spec.queuePrefix,
    nodes,
    queues,
    bucket: spec.bucket,
    worker,
    stateDir: spec.stateDir,
    ...spec.deployment,
  });
  const agentOf = (node: string) => {
    const agent = deployment.agents.get(node);
    if (!agent) throw new Error(`node ${node} has no agent`);
    return agent;
  };
  const at = (node: string) => ({ agent: agentOf(node), worker, namespace: spec.namespace });
  return {
    clients,
    nodes,
    queues,
    worker,
    deployment,
    agentOf,
    startCounter: (node, o) => startCounterWorkload(core, at(node), o),
    counterProgress: (node, pod) => readCounterProgress(at(node), pod),
    send: async (body) => {
      await sqs.send(new SendMessageCommand({ QueueUrl: queues.queueUrl, MessageBody: body }));
    },
    stop: () => deployment.stop(),
  };
}

/**
 * Removes what a run of this spec leaves on the stack: the simulated nodes'
 * runc containers (the restored processes; nothing plays the kubelet that
 * would stop them), files and cgroups, the pods of its namespaces (at once:
 * their node may be gone, so nothing would finish a graceful delete), the
 * nodes and their instances. The namespaces stay.
 */
export async function removeRescueDemo(
  clients: StackClients,
  spec: Pick<RescueDemoSpec, 'cluster' | 'namespace' | 'plainNamespaces' | 'stateDir'>,
): Promise<void> {
  const { kc, core, ec2 } = clients;
  const listed = await core.listNode({ labelSelector: `${SIM_NODE_LABEL}=${spec.cluster}` });
  const nodes = listed.items.map((n) => ({
    name: n.metadata?.name as string,
    instanceId: n.spec?.providerID?.split('/').pop() as string,
  })) as SimNode[];
  // Also the nodes whose Node object is gone but whose containers still run.
  const onDisk = (await readdir(join(spec.stateDir, 'nodes')).catch(() => [] as string[])).filter((d) =>
    isNodeOfCluster(d, spec.cluster),
  );
  await removeSimNodeState(spec.stateDir, [...new Set([...nodes.map((n) => n.name), ...onDisk])]);
  const namespaces = [spec.namespace, ...(spec.plainNamespaces ?? [])];
  for (const namespace of namespaces) {
    const pods = await core.listNamespacedPod({ namespace }).catch(() => ({ items: [] as V1Pod[] }));
    for (const p of pods.items)
      await core
        .deleteNamespacedPod({ name: p.metadata?.name as string, namespace, gracePeriodSeconds: 0 })
        .catch(() => undefined);
  }
  await waitFor("the previous run's pods to be gone", async () => {
    for (const namespace of namespaces) {
      const left = await core.listNamespacedPod({ namespace });
      if (left.items.length > 0) return undefined;
    }
    return true;
  });
  await deleteSimNodes({ kc, ec2 }, nodes);
}

/** createSimNodes names a cluster's nodes `<cluster>-<index>`. */
export function isNodeOfCluster(nodeName: string, cluster: string): boolean {
  return nodeName.startsWith(`${cluster}-`) && /^\d+$/.test(nodeName.slice(cluster.length + 1));
}
