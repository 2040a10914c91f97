import type { V1Pod } from '@kubernetes/client-node';

/**
 * Pods by the node they are bound to, kept from informer events. `keyOf`
 * says which pods are one: by uid every incarnation stands alone; by
 * namespace/name (as the informer keys them) a pod replaced under the same
 * name replaces its entry. A pod without a key is not indexed.
 */
export class PodsByNode {
  private readonly byNode = new Map<string, Map<string, V1Pod>>();
  private readonly nodeOf = new Map<string, string>();

  constructor(private readonly keyOf: (p: V1Pod) => string | undefined) {}

  upsert(p: V1Pod): void {
    const key = this.keyOf(p);
    if (!key) return;
    const node = p.spec?.nodeName;
    const previous = this.nodeOf.get(key);
    if (previous && previous !== node) this.drop(key, previous);
    if (!node) return;
    let pods = this.byNode.get(node);
    if (!pods) {
      pods = new Map();
      this.byNode.set(node, pods);
    }
    pods.set(key, p);
    this.nodeOf.set(key, node);
  }

  remove(p: V1Pod): void {
    const key = this.keyOf(p);
    if (!key) return;
    const node = this.nodeOf.get(key);
    if (node) this.drop(key, node);
  }

  /** What is indexed under this pod's key on the node it names. */
  indexed(p: V1Pod): V1Pod | undefined {
    const key = this.keyOf(p);
    const node = p.spec?.nodeName;
    return key && node ? this.byNode.get(node)?.get(key) : undefined;
  }

  /** The pods on these nodes, node by node, each node's in the order they were first seen. */
  on(nodes: string[]): V1Pod[] {
    const out: V1Pod[] = [];
    for (const n of nodes) for (const p of this.byNode.get(n)?.values() ?? []) out.push(p);
    return out;
  }

  size(): number {
    return this.nodeOf.size;
  }

  private drop(key: string, node: string): void {
    this.nodeOf.delete(key);
    const pods = this.byNode.get(node);
    pods?.delete(key);
    if (pods?.size === 0) this.byNode.delete(node);
  }
}

/** Pods keyed as the informer keys them: one entry per namespace/name. */
export const podName = (p: V1Pod): string => `${p.metadata?.namespace ?? ''}/${p.metadata?.name ?? ''}`;

/** Pods keyed by uid: each incarnation of a name is its own entry. */
export const podUid = (p: V1Pod): string | undefined => p.metadata?.uid || undefined;
