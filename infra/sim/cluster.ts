import { type EC2Client, RunInstancesCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import {
  AppsV1Api,
  BatchV1Api,
  CoreV1Api,
  type KubeConfig,
  type V1Node,
  type V1Taint,
} from '@kubernetes/client-node';
import { MIGRATE_ANNOTATION } from '../../services/common/labels.js';
import { providerIdFor } from '../../services/common/provider-id.js';
import { kwokNode } from './kwok-node.js';
import {
  deploymentManifest,
  jobManifest,
  podManifest,
  statefulSetManifest,
  type WorkloadPods,
} from './workload-manifests.js';

/**
 * A simulated EKS cluster on the local stack: EC2 instances in moto and, for
 * each, a kwok Node whose spec.providerID names that instance, labelled like
 * an EKS managed node group. kwok keeps the nodes Ready and runs their pods.
 */

export type CapacityType = 'spot' | 'on-demand';

export interface SimNodeSpec {
  zone: string;
  capacityType: CapacityType;
  instanceType: string;
  arch: 'amd64' | 'arm64';
  cpu: string;
  memory: string;
  pods: string;
  nodeGroup: string;
  labels: Record<string, string>;
  taints: V1Taint[];
}

export interface SimNode {
  name: string;
  instanceId: string;
  zone: string;
  providerID: string;
  capacityType: CapacityType;
  instanceType: string;
  nodeGroup: string;
}

export interface SimDeps {
  kc: KubeConfig;
  ec2: EC2Client;
}

export const SIM_NODE_LABEL = 'spot-rescue.io/sim-cluster';

const DEFAULT_SPEC: SimNodeSpec = {
  zone: 'us-east-1a',
  capacityType: 'spot',
  instanceType: 'm5.xlarge',
  arch: 'amd64',
  cpu: '4',
  memory: '16Gi',
  pods: '110',
  nodeGroup: 'workers',
  labels: {},
  taints: [],
};

/** Labels an EKS managed node group (and Karpenter) put on a node. */
export function eksNodeLabels(name: string, spec: SimNodeSpec, cluster: string): Record<string, string> {
  return {
    'kubernetes.io/hostname': name,
    'kubernetes.io/os': 'linux',
    'kubernetes.io/arch': spec.arch,
    'topology.kubernetes.io/region': spec.zone.replace(/[a-z]$/, ''),
    'topology.kubernetes.io/zone': spec.zone,
    'node.kubernetes.io/instance-type': spec.instanceType,
    'eks.amazonaws.com/capacityType': spec.capacityType === 'spot' ? 'SPOT' : 'ON_DEMAND',
    'karpenter.sh/capacity-type': spec.capacityType,
    'eks.amazonaws.com/nodegroup': spec.nodeGroup,
    type: 'kwok',
    [SIM_NODE_LABEL]: cluster,
    ...spec.labels,
  };
}

export interface CreateSimNodesOptions {
  /** Node names are `<cluster>-<index>`; the cluster name also labels every node. */
  cluster: string;
  count: number;
  /** Zones are assigned round-robin unless a per-node spec says otherwise. */
  zones?: string[];
  spec?: Partial<SimNodeSpec> | ((index: number) => Partial<SimNodeSpec>);
  /** Wait until kwok reports every node Ready (default true). */
  waitReady?: boolean;
}

export async function createSimNodes(deps: SimDeps, o: CreateSimNodesOptions): Promise<SimNode[]> {
  const zones = o.zones ?? ['us-east-1a', 'us-east-1b'];
  const specs = Array.from({ length: o.count }, (_, i) => ({
    ...DEFAULT_SPEC,
    zone: zones[i % zones.length] as string,
    ...(typeof o.spec === 'function' ? o.spec(i) : o.spec),
  }));
  const nodes = await Promise.all(
    specs.map((spec, i) => joinSimNode(deps, `${o.cluster}-${i}`, spec, o.cluster)),
  );
  if (o.waitReady !== false)
    await waitNodesReady(
      deps.kc,
      nodes.map((n) => n.name),
    );
  return nodes;
}

/** Launches one instance in moto and registers it as a Node (what a kubelet does when an EC2 node boots). */
export async function joinSimNode(
  deps: SimDeps,
  name: string,
  spec: SimNodeSpec,
  cluster: string,
): Promise<SimNode> {
  const run = await deps.ec2.send(
    new RunInstancesCommand({
      ImageId: 'ami-0eks0000000000000',
      MinCount: 1,
      MaxCount: 1,
      InstanceType: spec.instanceType as never,
      Placement: { AvailabilityZone: spec.zone },
      ...(spec.capacityType === 'spot' ? { InstanceMarketOptions: { MarketType: 'spot' as const } } : {}),
      TagSpecifications: [
        {
          ResourceType: 'instance',
          Tags: [
            { Key: 'Name', Value: name },
            { Key: 'eks:nodegroup-name', Value: spec.nodeGroup },
            { Key: SIM_NODE_LABEL, Value: cluster },
          ],
        },
      ],
    }),
  );
  const instanceId = run.Instances?.[0]?.InstanceId;
  if (!instanceId) throw new Error(`moto returned no instance for node ${name}`);
  await registerNode(deps.kc, name, instanceId, spec, cluster);
  return {
    name,
    instanceId,
    zone: spec.zone,
    providerID: providerIdFor(spec.zone, instanceId),
    capacityType: spec.capacityType,
    instanceType: spec.instanceType,
    nodeGroup: spec.nodeGroup,
  };
}

/** Creates the Node object for an existing instance, as its kubelet would on boot. */
export async function registerNode(
  kc: KubeConfig,
  name: string,
  instanceId: string,
  spec: SimNodeSpec,
  cluster: string,
): Promise<V1Node> {
  return kc.makeApiClient(CoreV1Api).createNode({
    body: kwokNode({
      name,
      labels: eksNodeLabels(name, spec, cluster),
      instance: { zone: spec.zone, instanceId },
      cpu: spec.cpu,
      memory: spec.memory,
      pods: spec.pods,
      taints: spec.taints,
      annotations: { 'node.alpha.kubernetes.io/ttl': '0' },
      nodeInfo: {
        architecture: spec.arch,
        operatingSystem: 'linux',
        kubeletVersion: 'v1.34.4-kwok',
        containerRuntimeVersion: 'runc://1.1.5',
        bootID: '',
        kernelVersion: '',
        kubeProxyVersion: '',
        machineID: '',
        osImage: 'kwok',
        systemUUID: '',
      },
    }),
  });
}

export async function waitNodesReady(kc: KubeConfig, names: string[], timeoutMs = 60_000): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  const pending = new Set(names);
  const end = Date.now() + timeoutMs;
  while (pending.size > 0) {
    const list = await core.listNode({ labelSelector: 'type=kwok' });
    for (const n of list.items) {
      const ready = n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
      if (ready && n.metadata?.name) pending.delete(n.metadata.name);
    }
    if (pending.size === 0) return;
    if (Date.now() > end)
      throw new Error(`nodes not Ready after ${timeoutMs} ms: ${[...pending].join(', ')}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Removes the nodes (and their pods' bindings go with them) and terminates their instances. */
export async function deleteSimNodes(deps: SimDeps, nodes: SimNode[]): Promise<void> {
  const core = deps.kc.makeApiClient(CoreV1Api);
  await Promise.all(nodes.map((n) => core.deleteNode({ name: n.name }).catch(() => undefined)));
  if (nodes.length > 0) {
    await deps.ec2
      .send(new TerminateInstancesCommand({ InstanceIds: nodes.map((n) => n.instanceId) }))
      .catch(() => undefined);
  }
}

export async function createNamespace(kc: KubeConfig, name: string, labels: Record<string, string> = {}) {
  const core = kc.makeApiClient(CoreV1Api);
  return core.createNamespace({ body: { metadata: { name, labels } } });
}

export async function deleteNamespace(kc: KubeConfig, name: string): Promise<void> {
  await kc
    .makeApiClient(CoreV1Api)
    .deleteNamespace({ name })
    .catch(() => undefined);
}

export interface SampleWorkloadOptions {
  namespace: string;
  /** Pin every workload to these nodes (by the sim-cluster label). */
  cluster: string;
  /**
   * Put spot-rescue.io/migrate: "true" on every pod (default true). The
   * local stack's kwok completes a Job's pod at once unless it carries it
   * (infra/kwok/stages.yaml), so the annotation matters even in a namespace
   * that opts in by its label.
   */
  optIn?: boolean;
  /** The Deployment's replicas (default 2); the StatefulSet, the Job and the bare pod are one each. */
  replicas?: number;
  /** The Job's backoffLimit (default 0: the Job fails once its pod is deleted). */
  jobBackoffLimit?: number;
  /** What each pod asks for (default 100m CPU, 128Mi). */
  requests?: { cpu: string; memory: string };
  terminationGracePeriodSeconds?: number;
}

/**
 * The workload mix a node of a real cluster carries, one of each way a pod
 * can be owned: a Deployment (`web`), a StatefulSet (`db`), a Job (`batch`)
 * and a bare pod (`solo`), each pod one container `app` of the counter
 * image, all pinned to the simulated cluster's nodes.
 */
export async function deploySampleWorkloads(kc: KubeConfig, o: SampleWorkloadOptions): Promise<void> {
  const apps = kc.makeApiClient(AppsV1Api);
  const batch = kc.makeApiClient(BatchV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  const pods: WorkloadPods = {
    spec: {
      nodeSelector: { [SIM_NODE_LABEL]: o.cluster },
      tolerations: [{ key: 'kwok.x-k8s.io/node', operator: 'Exists', effect: 'NoSchedule' }],
      ...(o.terminationGracePeriodSeconds !== undefined
        ? { terminationGracePeriodSeconds: o.terminationGracePeriodSeconds }
        : {}),
      containers: [
        {
          name: 'app',
          image: 'registry.local/counter:1',
          resources: { requests: o.requests ?? { cpu: '100m', memory: '128Mi' } },
        },
      ],
    },
    ...(o.optIn === false ? {} : { annotations: { [MIGRATE_ANNOTATION]: 'true' } }),
  };
  const namespace = o.namespace;
  await apps.createNamespacedDeployment({
    namespace,
    body: deploymentManifest('web', o.replicas ?? 2, pods),
  });
  await apps.createNamespacedStatefulSet({ namespace, body: statefulSetManifest('db', pods) });
  await batch.createNamespacedJob({
    namespace,
    body: jobManifest('batch', pods, { backoffLimit: o.jobBackoffLimit ?? 0 }),
  });
  await core.createNamespacedPod({ namespace, body: podManifest('solo', pods) });
}
