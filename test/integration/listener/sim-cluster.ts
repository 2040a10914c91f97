import { randomBytes } from 'node:crypto';
import { CoreV1Api, type KubeConfig, type V1Node, type V1Pod } from '@kubernetes/client-node';
import { kwokNode } from '../../../infra/sim/kwok-node.js';
import { loadKubeConfig } from '../../../services/common/kube.js';
import { stackEnv, uniqueName, waitFor } from '../../support/stack.js';

export const randomInstanceId = () => `i-${randomBytes(9).toString('hex').slice(0, 17)}`;

export interface TestNode {
  name: string;
  instanceId: string;
  zone: string;
}

export interface PodSpec {
  name: string;
  annotations?: Record<string, string>;
}

const isReady = (n: V1Node) =>
  n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;

/**
 * Nodes (kwok runs every node of the local API server) whose providerID names
 * an instance, and pods bound straight to them, in a namespace of their own.
 * Everything made here is removed by cleanup().
 */
export class SimCluster {
  readonly kc: KubeConfig;
  readonly core: CoreV1Api;
  private readonly nodes: string[] = [];
  private readonly namespaces: string[] = [];

  constructor() {
    this.kc = loadKubeConfig(stackEnv().kubeconfig);
    this.core = this.kc.makeApiClient(CoreV1Api);
  }

  async namespace(labels: Record<string, string> = {}): Promise<string> {
    const name = uniqueName('lt');
    await this.core.createNamespace({ body: { metadata: { name, labels } } });
    this.namespaces.push(name);
    return name;
  }

  async node(zone = 'us-east-1a', instanceId = randomInstanceId()): Promise<TestNode> {
    const name = uniqueName('lnode');
    await this.core.createNode({
      body: kwokNode({
        name,
        labels: { type: 'kwok', 'topology.kubernetes.io/zone': zone, 'kubernetes.io/hostname': name },
        instance: { zone, instanceId },
        cpu: '32',
        memory: '128Gi',
      }),
    });
    this.nodes.push(name);
    return { name, instanceId, zone };
  }

  /**
   * A node that nothing but the test will write taints to. A new node is
   * born with the not-ready taint (the API server's TaintNodesByCondition
   * admission) and the node lifecycle controller lifts it once it has seen
   * the node's conditions, kwok's Ready among them; until then the
   * controller's write can land between any read and patch of the test's.
   * From Ready and untainted on, the controller writes a taint only in answer
   * to a change of conditions or of `unschedulable` (its
   * `node.kubernetes.io/unschedulable` taint follows a cordon), and kwok
   * writes only the status.
   */
  async settledNode(zone?: string): Promise<TestNode> {
    const node = await this.node(zone);
    await waitFor(
      `node ${node.name} Ready (kwok) with the not-ready taint lifted (node lifecycle controller)`,
      async () => {
        const n = await this.readNode(node.name);
        return isReady(n) && (n.spec?.taints ?? []).length === 0;
      },
      { timeoutMs: 90_000 },
    );
    return node;
  }

  async pod(namespace: string, nodeName: string, spec: PodSpec): Promise<V1Pod> {
    return this.core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: spec.name, ...(spec.annotations ? { annotations: spec.annotations } : {}) },
        spec: {
          nodeName,
          tolerations: [{ operator: 'Exists' }],
          containers: [{ name: 'app', image: 'registry.local/app:1' }],
        },
      },
    });
  }

  /** Until the API server lists `count` pods bound to the node (the listener's informer sees them soon after). */
  async waitPodsOnNode(nodeName: string, count: number): Promise<void> {
    await waitFor(
      `${count} pods on ${nodeName}`,
      async () =>
        (await this.core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${nodeName}` })).items
          .length === count,
    );
  }

  async readNode(name: string) {
    return this.core.readNode({ name });
  }

  /**
   * Pods go first and without grace: once their node is gone nothing (no
   * kubelet, no kwok) would confirm a graceful deletion, and they would stay
   * Terminating, loading the shared API server.
   */
  async cleanup(): Promise<void> {
    await Promise.allSettled(
      this.namespaces.map((namespace) =>
        this.core.deleteCollectionNamespacedPod({ namespace, gracePeriodSeconds: 0 }),
      ),
    );
    await Promise.allSettled([
      ...this.nodes.map((name) => this.core.deleteNode({ name })),
      ...this.namespaces.map((name) => this.core.deleteNamespace({ name })),
    ]);
  }
}
