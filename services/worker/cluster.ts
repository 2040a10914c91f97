import {
  type CoreV1Api,
  PatchStrategy,
  setHeaderOptions,
  type V1Node,
  type V1Pod,
} from '@kubernetes/client-node';
import { statusOf } from '../common/kube.js';
import { ZONE_LABEL } from './node-view.js';

/**
 * The Kubernetes calls the worker makes, behind one small interface. The
 * service uses CachedCluster (cluster-cache.ts), which answers listNodes,
 * getNode and listPodsOnNodes from informers; objects returned are read-only.
 */
export interface Cluster {
  getPod(namespace: string, name: string): Promise<V1Pod | null>;
  /** Pods in a namespace with a label selector. */
  listPods(namespace: string, labelSelector?: string): Promise<V1Pod[]>;
  /** Pods in every namespace with a label selector. */
  listAllPods(labelSelector: string): Promise<V1Pod[]>;
  listPodsOnNode(node: string): Promise<V1Pod[]>;
  /**
   * Active pods bound to any of these nodes, for counting what they take: from
   * the cache they carry only placementFields (cluster-cache.ts), and finished
   * pods may be missing.
   */
  listPodsOnNodes(nodes: string[]): Promise<V1Pod[]>;
  listNodes(): Promise<V1Node[]>;
  getNode(name: string): Promise<V1Node | null>;
  /** Zones the pod's bound PersistentVolumes are pinned to. */
  volumeZones(pod: V1Pod): Promise<string[]>;
  createPod(pod: V1Pod): Promise<V1Pod>;
  /** Deletes if the uid still matches; false when it was already gone (or replaced). */
  deletePod(namespace: string, name: string, uid: string, gracePeriodSeconds?: number): Promise<boolean>;
  patchPod(namespace: string, name: string, patch: object): Promise<V1Pod>;
  /** 'evicted', 'blocked' (429: a PodDisruptionBudget says not now) or 'gone'. */
  evictPod(namespace: string, name: string, uid: string, gracePeriodSeconds: number): Promise<EvictResult>;
  recordEvent(pod: V1Pod, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void>;
}

export type EvictResult = 'evicted' | 'blocked' | 'gone';

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** Every call straight to the API server. */
export class KubeCluster implements Cluster {
  constructor(
    private readonly core: CoreV1Api,
    private readonly component = 'spot-rescue-worker',
    private readonly host = process.env['HOSTNAME'] ?? 'worker',
  ) {}

  async getPod(namespace: string, name: string): Promise<V1Pod | null> {
    try {
      return await this.core.readNamespacedPod({ namespace, name });
    } catch (err) {
      if (statusOf(err) === 404) return null;
      throw err;
    }
  }

  async listPods(namespace: string, labelSelector?: string): Promise<V1Pod[]> {
    return (await this.core.listNamespacedPod({ namespace, ...(labelSelector ? { labelSelector } : {}) }))
      .items;
  }

  async listAllPods(labelSelector: string): Promise<V1Pod[]> {
    return (await this.core.listPodForAllNamespaces({ labelSelector })).items;
  }

  async listPodsOnNode(node: string): Promise<V1Pod[]> {
    return (await this.core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${node}` })).items;
  }

  /** One small list per node rather than every pod in the cluster. */
  async listPodsOnNodes(nodes: string[]): Promise<V1Pod[]> {
    const out: V1Pod[] = [];
    for (let i = 0; i < nodes.length; i += 16) {
      const lists = await Promise.all(nodes.slice(i, i + 16).map((n) => this.listPodsOnNode(n)));
      for (const l of lists) out.push(...l);
    }
    return out;
  }

  async listNodes(): Promise<V1Node[]> {
    return (await this.core.listNode()).items;
  }

  async getNode(name: string): Promise<V1Node | null> {
    try {
      return await this.core.readNode({ name });
    } catch (err) {
      if (statusOf(err) === 404) return null;
      throw err;
    }
  }

  async volumeZones(pod: V1Pod): Promise<string[]> {
    const zones = new Set<string>();
    const namespace = pod.metadata?.namespace ?? 'default';
    for (const v of pod.spec?.volumes ?? []) {
      const claim = v.persistentVolumeClaim?.claimName;
      if (!claim) continue;
      let pvName: string | undefined;
      try {
        pvName = (await this.core.readNamespacedPersistentVolumeClaim({ namespace, name: claim })).spec
          ?.volumeName;
      } catch (err) {
        if (statusOf(err) === 404) continue;
        throw err;
      }
      if (!pvName) continue;
      const pv = await this.core.readPersistentVolume({ name: pvName });
      const label = pv.metadata?.labels?.[ZONE_LABEL];
      if (label) zones.add(label);
      for (const term of pv.spec?.nodeAffinity?.required?.nodeSelectorTerms ?? []) {
        for (const e of term.matchExpressions ?? []) {
          if (e.key === ZONE_LABEL && e.operator === 'In' && e.values?.length === 1)
            zones.add(e.values[0] as string);
        }
      }
    }
    return [...zones];
  }

  async createPod(pod: V1Pod): Promise<V1Pod> {
    return this.core.createNamespacedPod({ namespace: pod.metadata?.namespace ?? 'default', body: pod });
  }

  async deletePod(
    namespace: string,
    name: string,
    uid: string,
    gracePeriodSeconds?: number,
  ): Promise<boolean> {
    try {
      await this.core.deleteNamespacedPod({
        namespace,
        name,
        ...(gracePeriodSeconds === undefined ? {} : { gracePeriodSeconds }),
        body: {
          preconditions: { uid },
          ...(gracePeriodSeconds === undefined ? {} : { gracePeriodSeconds }),
        },
      });
      return true;
    } catch (err) {
      // 409: the name now belongs to another pod (the uid precondition failed).
      if (statusOf(err) === 404 || statusOf(err) === 409) return false;
      throw err;
    }
  }

  async patchPod(namespace: string, name: string, patch: object): Promise<V1Pod> {
    return this.core.patchNamespacedPod({ namespace, name, body: patch }, mergePatch);
  }

  async evictPod(
    namespace: string,
    name: string,
    uid: string,
    gracePeriodSeconds: number,
  ): Promise<EvictResult> {
    try {
      await this.core.createNamespacedPodEviction({
        namespace,
        name,
        body: {
          apiVersion: 'policy/v1',
          kind: 'Eviction',
          metadata: { name, namespace },
          deleteOptions: { gracePeriodSeconds, preconditions: { uid } },
        },
      });
      return 'evicted';
    } catch (err) {
      const s = statusOf(err);
      if (s === 404 || s === 409) return 'gone';
      if (s === 429) return 'blocked';
      throw err;
    }
  }

  async recordEvent(pod: V1Pod, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const namespace = pod.metadata?.namespace ?? 'default';
    const now = new Date();
    await this.core.createNamespacedEvent({
      namespace,
      body: {
        metadata: { generateName: `${pod.metadata?.name ?? 'pod'}.`, namespace },
        involvedObject: {
          apiVersion: 'v1',
          kind: 'Pod',
          namespace,
          name: pod.metadata?.name,
          uid: pod.metadata?.uid,
          resourceVersion: pod.metadata?.resourceVersion,
        },
        type,
        reason,
        message: message.slice(0, 1024),
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
        source: { component: this.component, host: this.host },
        reportingComponent: `spot-rescue.io/${this.component}`,
        reportingInstance: this.host,
      },
    });
  }
}
