import type { CoreV1Api, KubeConfig, V1Container, V1Node, V1Pod } from '@kubernetes/client-node';
import { makeInformer, type SyncedInformer } from '../common/informer.js';
import type { Logger } from '../common/logger.js';
import { PodsByNode, podName } from '../common/pods-by-node.js';
import type { Cluster, EvictResult } from './cluster.js';

/** Pods that can still occupy a node: finished ones leave the cache (the watch reports them deleted). */
export const ACTIVE_PODS = 'status.phase!=Succeeded,status.phase!=Failed';
export const DEFAULT_SYNC_TIMEOUT_MS = 60_000;
/** How long a pod this worker created counts on its node before the watch has shown it. */
const ASSUME_MS = 30_000;

/**
 * A pod reduced to what placement counts (requests, owner for spread, node,
 * phase): the cache holds every active pod of the cluster, and managedFields,
 * annotations, env, volumes and container statuses are most of a pod's size.
 * Returns the reduced parts without touching the pod.
 */
export function placementFields(p: V1Pod): Pick<V1Pod, 'metadata' | 'spec' | 'status'> {
  const m = p.metadata ?? {};
  const s = p.spec;
  const c = (list: V1Container[] | undefined): V1Container[] | undefined =>
    list?.map((x) => ({
      name: x.name,
      ...(x.resources ? { resources: x.resources } : {}),
      ...(x.restartPolicy ? { restartPolicy: x.restartPolicy } : {}),
    }));
  return {
    metadata: {
      name: m.name,
      namespace: m.namespace,
      uid: m.uid,
      resourceVersion: m.resourceVersion,
      ...(m.labels ? { labels: m.labels } : {}),
      ...(m.ownerReferences ? { ownerReferences: m.ownerReferences } : {}),
      ...(m.deletionTimestamp ? { deletionTimestamp: m.deletionTimestamp } : {}),
    },
    spec: {
      containers: c(s?.containers) ?? [],
      ...(s?.initContainers ? { initContainers: c(s.initContainers) } : {}),
      ...(s?.nodeName ? { nodeName: s.nodeName } : {}),
      ...(s?.overhead ? { overhead: s.overhead } : {}),
    },
    status: { ...(p.status?.phase ? { phase: p.status.phase } : {}) },
  };
}

/** Trims a pod in place as it enters the informer's cache (see placementFields). */
export function trimPod(p: V1Pod): void {
  const t = placementFields(p);
  for (const k of Object.keys(p))
    if (k !== 'apiVersion' && k !== 'kind') delete (p as Record<string, unknown>)[k];
  Object.assign(p, t);
}

/** Node objects are kept whole but for managedFields and the list of cached images (large on real nodes). */
export function trimNode(n: V1Node): void {
  if (n.metadata) delete n.metadata.managedFields;
  if (n.status) {
    delete n.status.images;
    delete n.status.volumesAttached;
    delete n.status.volumesInUse;
  }
}

/**
 * The cluster's pods by node (keyed by namespace/name, as the informer is),
 * plus pods this worker just created and the watch has not shown yet
 * ("assumed", as the scheduler does): between a create and its watch event
 * a concurrent placement would otherwise see neither the pod nor the
 * reservation the migration released after creating it.
 */
export class PodsByNodeWithAssumed {
  private readonly index = new PodsByNode(podName);
  private readonly assumed = new Map<string, { pod: V1Pod; node: string; until: number }>();

  constructor(
    private readonly now: () => number = Date.now,
    private readonly assumeMs = ASSUME_MS,
  ) {}

  upsert(p: V1Pod): void {
    this.confirm(p);
    this.index.upsert(p);
  }

  remove(p: V1Pod): void {
    this.confirm(p);
    this.index.remove(p);
  }

  /** A pod created through this worker, counted until the watch shows it (or ASSUME_MS passes). */
  assume(p: V1Pod): void {
    const node = p.spec?.nodeName;
    if (!node || !p.metadata?.uid) return;
    if (this.index.indexed(p)?.metadata?.uid === p.metadata.uid) return;
    this.assumed.set(podName(p), {
      pod: placementFields(p) as V1Pod,
      node,
      until: this.now() + this.assumeMs,
    });
  }

  on(nodes: string[]): V1Pod[] {
    const out = this.index.on(nodes);
    if (this.assumed.size > 0) {
      const wanted = new Set(nodes);
      const now = this.now();
      for (const [key, a] of this.assumed) {
        if (a.until <= now) this.assumed.delete(key);
        else if (wanted.has(a.node)) out.push(a.pod);
      }
    }
    return out;
  }

  size(): number {
    return this.index.size();
  }

  /** The watch has shown this pod: an assumption of the same incarnation is no longer needed. */
  private confirm(p: V1Pod): void {
    const key = podName(p);
    const a = this.assumed.get(key);
    if (a && a.pod.metadata?.uid === p.metadata?.uid) this.assumed.delete(key);
  }
}

export interface CacheSync {
  ms: number;
  nodes: number;
  pods: number;
}

/**
 * The worker's Cluster with placement's reads answered from informer caches:
 * placement lists every node and the pods on every candidate node on each
 * attempt, which at hundreds of pods in a two-minute window was hundreds of
 * list calls. Everything else goes to the API server through `direct`.
 *
 * While an informer is not synced (its list or watch failing and being
 * retried) its reads fall back to the API server, so a broken watch costs
 * API calls, never a decision made on a stale view.
 */
export class CachedCluster implements Cluster {
  private readonly nodes: SyncedInformer<V1Node>;
  private readonly pods: SyncedInformer<V1Pod>;
  private readonly index: PodsByNodeWithAssumed;

  constructor(
    kc: KubeConfig,
    core: CoreV1Api,
    private readonly direct: Cluster,
    o: { log?: Logger; now?: () => number; restartDelayMs?: number } = {},
  ) {
    const common = {
      ...(o.log ? { log: o.log } : {}),
      ...(o.restartDelayMs !== undefined ? { restartDelayMs: o.restartDelayMs } : {}),
    };
    this.index = new PodsByNodeWithAssumed(o.now);
    this.nodes = makeInformer(kc, '/api/v1/nodes', () => core.listNode(), { ...common, trim: trimNode });
    this.pods = makeInformer(
      kc,
      '/api/v1/pods',
      () => core.listPodForAllNamespaces({ fieldSelector: ACTIVE_PODS }),
      { ...common, fieldSelector: ACTIVE_PODS, trim: trimPod },
    );
    this.pods.on('add', (p) => this.index.upsert(p));
    this.pods.on('update', (p) => this.index.upsert(p));
    this.pods.on('delete', (p) => this.index.remove(p));
  }

  /** Resolves once both informers have listed and are watching; rejects (and stops them) after timeoutMs. */
  async start(timeoutMs = DEFAULT_SYNC_TIMEOUT_MS): Promise<CacheSync> {
    const t0 = Date.now();
    const results = await Promise.allSettled([this.nodes.start(timeoutMs), this.pods.start(timeoutMs)]);
    const failed = results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as Error).message] : []));
    if (failed.length > 0) {
      await this.stop();
      throw new Error(`worker cluster cache: ${failed.join('; ')}`);
    }
    return { ms: Date.now() - t0, nodes: this.nodes.list().length, pods: this.index.size() };
  }

  synced(): boolean {
    return this.nodes.synced() && this.pods.synced();
  }

  async stop(): Promise<void> {
    await Promise.all([this.nodes.stop(), this.pods.stop()]);
  }

  // From the cache: placement reads every node on each attempt, provisioning polls for its new nodes.
  async listNodes(): Promise<V1Node[]> {
    return this.nodes.synced() ? [...this.nodes.list()] : this.direct.listNodes();
  }

  // From the cache: a held target's usability and the source node's view; a node the
  // watch has not shown yet is simply not a target yet.
  async getNode(name: string): Promise<V1Node | null> {
    return this.nodes.synced() ? (this.nodes.get(name) ?? null) : this.direct.getNode(name);
  }

  // From the cache (pods reduced to placementFields): one list per candidate node per attempt before.
  async listPodsOnNodes(nodes: string[]): Promise<V1Pod[]> {
    return this.pods.synced() ? this.index.on(nodes) : this.direct.listPodsOnNodes(nodes);
  }

  // Direct: the migration's own pod (its phase, whether it is gone, its uid) must be current.
  getPod(namespace: string, name: string): Promise<V1Pod | null> {
    return this.direct.getPod(namespace, name);
  }

  // Direct: finding a restored pod decides whether to create one, so a watch delay could duplicate it.
  listPods(namespace: string, labelSelector?: string): Promise<V1Pod[]> {
    return this.direct.listPods(namespace, labelSelector);
  }

  // Direct: finalize counts restored pods once per planned pod, at the end, and the cache has no labels index.
  listAllPods(labelSelector: string): Promise<V1Pod[]> {
    return this.direct.listAllPods(labelSelector);
  }

  // Direct: finalize polls one node for whether its pods have left, including finished
  // ones (which the cache drops) and with whole pod objects.
  listPodsOnNode(node: string): Promise<V1Pod[]> {
    return this.direct.listPodsOnNode(node);
  }

  // Direct: only for pods with claims; PVCs and PVs are not worth two more informers.
  volumeZones(pod: V1Pod): Promise<string[]> {
    return this.direct.volumeZones(pod);
  }

  async createPod(pod: V1Pod): Promise<V1Pod> {
    const created = await this.direct.createPod(pod);
    this.index.assume(created);
    return created;
  }

  deletePod(namespace: string, name: string, uid: string, gracePeriodSeconds?: number): Promise<boolean> {
    return this.direct.deletePod(namespace, name, uid, gracePeriodSeconds);
  }

  patchPod(namespace: string, name: string, patch: object): Promise<V1Pod> {
    return this.direct.patchPod(namespace, name, patch);
  }

  evictPod(namespace: string, name: string, uid: string, gracePeriodSeconds: number): Promise<EvictResult> {
    return this.direct.evictPod(namespace, name, uid, gracePeriodSeconds);
  }

  recordEvent(pod: V1Pod, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    return this.direct.recordEvent(pod, type, reason, message);
  }
}
