import {
  CoreV1Api,
  type KubeConfig,
  type V1Namespace,
  type V1Node,
  type V1Pod,
} from '@kubernetes/client-node';
import { makeInformer, type SyncedInformer } from '../common/informer.js';
import type { Logger } from '../common/logger.js';
import { PodsByNode, podUid } from '../common/pods-by-node.js';
import { parseProviderId } from '../common/provider-id.js';

export interface ResolvedNode {
  name: string;
  instanceId: string;
  zone?: string;
  node: V1Node;
}

/** What the listener needs to know about the cluster, answered from memory. */
export interface ClusterView {
  nodeForInstance(instanceId: string): ResolvedNode | undefined;
  podsOnNode(nodeName: string): V1Pod[];
  namespaceLabels(namespace: string): Readonly<Record<string, string>> | undefined;
  /** False while a list or watch is failing: an instance missing from the cache proves nothing then. */
  synced(): boolean;
}

const SYNC_TIMEOUT_MS = 120_000;

/**
 * Informers on nodes, pods and namespaces, with the indexes the listener
 * looks things up by: nodes by instance id (from spec.providerID) and pods by
 * node name. A watch that fails is restarted (SyncedInformer); until it is,
 * the view reports itself not synced (readiness).
 */
export class InformerClusterCache implements ClusterView {
  private readonly nodeByInstance = new Map<string, string>();
  private readonly instanceByNode = new Map<string, string>();
  private readonly podsByNode = new PodsByNode(podUid);
  private readonly nodes: SyncedInformer<V1Node>;
  private readonly pods: SyncedInformer<V1Pod>;
  private readonly namespaces: SyncedInformer<V1Namespace>;

  constructor(kc: KubeConfig, log: Logger) {
    const core = kc.makeApiClient(CoreV1Api);
    this.nodes = makeInformer(kc, '/api/v1/nodes', () => core.listNode(), { log });
    this.pods = makeInformer(kc, '/api/v1/pods', () => core.listPodForAllNamespaces(), { log });
    this.namespaces = makeInformer(kc, '/api/v1/namespaces', () => core.listNamespace(), { log });

    const onNode = (n: V1Node) => this.indexNode(n);
    this.nodes.on('add', onNode);
    this.nodes.on('update', onNode);
    this.nodes.on('delete', (n: V1Node) => this.unindexNode(n.metadata?.name ?? ''));
    const onPod = (p: V1Pod) => this.podsByNode.upsert(p);
    this.pods.on('add', onPod);
    this.pods.on('update', onPod);
    this.pods.on('delete', (p: V1Pod) => this.podsByNode.remove(p));
  }

  /** Resolves once every informer has listed (retrying failed lists); rejects after timeoutMs. */
  async start(timeoutMs = SYNC_TIMEOUT_MS): Promise<void> {
    await Promise.all([this.nodes, this.pods, this.namespaces].map((i) => i.start(timeoutMs)));
  }

  /** True when every informer has listed and is watching. */
  synced(): boolean {
    return this.nodes.synced() && this.pods.synced() && this.namespaces.synced();
  }

  async stop(): Promise<void> {
    await Promise.all([this.nodes.stop(), this.pods.stop(), this.namespaces.stop()]);
  }

  nodeForInstance(instanceId: string): ResolvedNode | undefined {
    const name = this.nodeByInstance.get(instanceId);
    const node = name ? this.nodes.get(name) : undefined;
    if (!name || !node) return undefined;
    const parsed = parseProviderId(node.spec?.providerID);
    return { name, instanceId, ...(parsed?.zone ? { zone: parsed.zone } : {}), node };
  }

  podsOnNode(nodeName: string): V1Pod[] {
    return this.podsByNode.on([nodeName]);
  }

  namespaceLabels(namespace: string): Readonly<Record<string, string>> | undefined {
    return this.namespaces.get(namespace)?.metadata?.labels;
  }

  private indexNode(n: V1Node) {
    const name = n.metadata?.name;
    if (!name) return;
    const id = parseProviderId(n.spec?.providerID)?.instanceId;
    const previous = this.instanceByNode.get(name);
    if (previous && previous !== id) this.nodeByInstance.delete(previous);
    if (id) {
      this.nodeByInstance.set(id, name);
      this.instanceByNode.set(name, id);
    }
  }

  private unindexNode(name: string) {
    const id = this.instanceByNode.get(name);
    this.instanceByNode.delete(name);
    if (id && this.nodeByInstance.get(id) === name) this.nodeByInstance.delete(id);
  }
}
