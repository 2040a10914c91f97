import { createHash } from 'node:crypto';
import type { V1Affinity, V1OwnerReference, V1Pod } from '@kubernetes/client-node';
import type { RestoreResponse } from '../common/agent-api.js';
import { CHECKPOINT_ANNOTATION, RESTORED_FROM_ANNOTATION } from '../common/labels.js';

/** On a restored pod: the original's uid, as a label too, so a retried job finds it with a selector. */
export const RESTORED_FROM_LABEL = 'spot-rescue.io/restored-from';
/** On a staged restored pod: the original's labels and owners, applied once it runs. */
export const HELD_LABELS_ANNOTATION = 'spot-rescue.io/held-labels';
export const HELD_OWNERS_ANNOTATION = 'spot-rescue.io/held-owners';
/** Held too: a Job strips its tracking finalizer from pods it does not own, and needs it to count them. */
export const HELD_FINALIZERS_ANNOTATION = 'spot-rescue.io/held-finalizers';
export const DELETION_COST_ANNOTATION = 'controller.kubernetes.io/pod-deletion-cost';
/** The lowest deletion cost: a ReplicaSet with one pod too many removes this one first. */
export const LOWEST_DELETION_COST = String(-2147483648);
const HIGHEST_DELETION_COST = 2147483647;

/**
 * The pod's deletion cost as a ReplicaSet reads it: an int32, and 0 when
 * the annotation is absent or not one (kubernetes ignores a bad value).
 */
export function deletionCostOf(pod: V1Pod): number {
  const v = pod.metadata?.annotations?.[DELETION_COST_ANNOTATION];
  if (v === undefined || !/^[+-]?\d+$/.test(v)) return 0;
  const n = Number(v);
  return n >= -2147483648 && n <= HIGHEST_DELETION_COST ? n : 0;
}

/**
 * A deletion cost that ranks a copy adopted after its original went above
 * a fresh pod its controller may have started meanwhile, once the earlier
 * ranks (unassigned, Pending, not Ready) leave them even: one above the
 * original's own (which its template gives the fresh pod too) and above the
 * default 0. Read from the original as the migration first saved it,
 * before this swap gave it the lowest cost. Only for the swap: taken back
 * once the controller has kept the copy (deletionCostReturn).
 */
export function outrankingDeletionCost(original: V1Pod): string {
  return String(Math.min(HIGHEST_DELETION_COST, Math.max(0, deletionCostOf(original)) + 1));
}

/**
 * The merge patch that gives a copy its controller kept the original's own
 * deletion cost back (the annotation as the original had it, or none),
 * or null when there is nothing to take back. The cost the swap gave it
 * only had to outlast the controller's first count; left on, every later
 * scale-down would keep the migrated pod over its peers, a ranking no one
 * asked for. Only the cost the swap gives (outrankingDeletionCost of the
 * same saved original) is taken back: a copy adopted copy-first carries
 * none, and a cost someone else set on the copy since is theirs.
 */
export function deletionCostReturn(copy: V1Pod, original: V1Pod): object | null {
  const carried = copy.metadata?.annotations?.[DELETION_COST_ANNOTATION];
  const own = original.metadata?.annotations?.[DELETION_COST_ANNOTATION];
  if (carried === undefined || carried === own || carried !== outrankingDeletionCost(original)) return null;
  return { metadata: { annotations: { [DELETION_COST_ANNOTATION]: own ?? null } } };
}

/**
 * How the restored pod replaces the original without its controller making
 * a fresh replica or deleting the wrong one:
 * - `same-name` (StatefulSet, bare pods): identity is the name, so the
 *   original is deleted first and the restored pod created under its name
 *   right away, before the StatefulSet controller recreates it empty.
 * - `staged` (ReplicaSet, Job and other controllers): the restored pod is
 *   created under a new name with no labels or owner, so no controller
 *   counts it; once it runs, the original gets the lowest deletion cost, the
 *   restored pod gets the labels and owner, and the original is deleted.
 *   Whatever a controller does in between keeps the restored pod. When the
 *   controller would rank the copy below the original anyway (a Job's, or a
 *   copy not Ready yet beside a Ready original), the original goes first
 *   instead (migrate/swap-order.ts).
 */
export type ReplaceStrategy = 'same-name' | 'staged';

export function controllerOf(pod: V1Pod): V1OwnerReference | undefined {
  return pod.metadata?.ownerReferences?.find((r) => r.controller);
}

export function replaceStrategy(pod: V1Pod): ReplaceStrategy {
  const owner = controllerOf(pod);
  return !owner || owner.kind === 'StatefulSet' ? 'same-name' : 'staged';
}

/** Deterministic per (event, pod): a retried job reuses the archive it already made. */
export function checkpointIdFor(eventId: string, podUid: string): string {
  return `ck-${createHash('sha256').update(`${eventId}/${podUid}`).digest('hex').slice(0, 20)}`;
}

export function checkpointPrefix(
  cluster: string,
  pod: { namespace: string; name: string; uid: string },
  id: string,
) {
  return `${cluster}/${pod.namespace}/${pod.name}/${pod.uid}/${id}`;
}

const RESTORED_SUFFIX = /-r[0-9a-f]{5}$/;

export function restoredPodName(pod: V1Pod): string {
  const name = pod.metadata?.name ?? '';
  if (replaceStrategy(pod) === 'same-name') return name;
  const suffix = `-r${createHash('sha256')
    .update(pod.metadata?.uid ?? '')
    .digest('hex')
    .slice(0, 5)}`;
  return `${name.replace(RESTORED_SUFFIX, '').slice(0, 63 - suffix.length)}${suffix}`;
}

export interface RestoredPodInput {
  original: V1Pod;
  targetNode: string;
  checkpointId: string;
  restore?: RestoreResponse | undefined;
}

/** The Pod object to create on the target node. */
export function buildRestoredPod(i: RestoredPodInput): V1Pod {
  const o = i.original;
  const meta = o.metadata ?? {};
  const uid = meta.uid ?? '';
  const strategy = replaceStrategy(o);
  const labels = { ...(meta.labels ?? {}) };
  const annotations: Record<string, string> = { ...(meta.annotations ?? {}) };
  delete annotations[DELETION_COST_ANNOTATION];
  annotations[RESTORED_FROM_ANNOTATION] = uid;
  annotations[CHECKPOINT_ANNOTATION] = i.checkpointId;
  if (strategy === 'staged') {
    annotations[HELD_LABELS_ANNOTATION] = JSON.stringify(labels);
    annotations[HELD_OWNERS_ANNOTATION] = JSON.stringify(meta.ownerReferences ?? []);
    annotations[HELD_FINALIZERS_ANNOTATION] = JSON.stringify(meta.finalizers ?? []);
  }
  const spec = structuredClone(o.spec ?? { containers: [] });
  // Through the scheduler, not around it: required pod anti-affinity, topology
  // spread and host ports are checked as for any pod, and a pod they refuse
  // stays Pending (Unschedulable) instead of being bound regardless.
  delete spec.nodeName;
  spec.affinity = pinnedTo(spec.affinity, i.targetNode);
  // Admission fills these from the priority class and rejects a copy that disagrees.
  delete spec.priority;
  delete spec.preemptionPolicy;
  delete spec.ephemeralContainers;
  const images = new Map((i.restore?.containers ?? []).filter((c) => c.image).map((c) => [c.name, c.image]));
  for (const c of spec.containers) {
    const img = images.get(c.name);
    if (img) c.image = img;
  }
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: restoredPodName(o),
      namespace: meta.namespace,
      labels:
        strategy === 'staged' ? { [RESTORED_FROM_LABEL]: uid } : { ...labels, [RESTORED_FROM_LABEL]: uid },
      annotations,
      ...(strategy === 'same-name' && meta.ownerReferences ? { ownerReferences: meta.ownerReferences } : {}),
      ...(strategy === 'same-name' && meta.finalizers ? { finalizers: meta.finalizers } : {}),
    },
    spec,
  };
}

/**
 * The pod's own affinity plus a required match on the target's name. Terms
 * of a required node affinity are alternatives, so the match is added to
 * each of them (or is the only term).
 */
export function pinnedTo(affinity: V1Affinity | undefined, node: string): V1Affinity {
  const pin = { key: 'metadata.name', operator: 'In', values: [node] };
  const required = affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
  const terms = (required?.nodeSelectorTerms ?? []).map((t) => ({
    ...t,
    matchFields: [...(t.matchFields ?? []).filter((f) => f.key !== 'metadata.name'), pin],
  }));
  return {
    ...affinity,
    nodeAffinity: {
      ...affinity?.nodeAffinity,
      requiredDuringSchedulingIgnoredDuringExecution: {
        nodeSelectorTerms: terms.length > 0 ? terms : [{ matchFields: [pin] }],
      },
    },
  };
}

/** The node a restored pod is pinned to (before the scheduler binds it there). */
export function pinnedNode(pod: V1Pod): string | undefined {
  const terms =
    pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
  return terms[0]?.matchFields?.find((f) => f.key === 'metadata.name')?.values?.[0];
}

/**
 * The merge patch that makes a staged restored pod a member of its
 * controller; with `deletionCost`, the copy carries it from the moment its
 * controller first counts it.
 */
export function adoptionPatch(restored: V1Pod, deletionCost?: string): object {
  const a = restored.metadata?.annotations ?? {};
  const labels = JSON.parse(a[HELD_LABELS_ANNOTATION] ?? '{}') as Record<string, string>;
  const owners = JSON.parse(a[HELD_OWNERS_ANNOTATION] ?? '[]') as V1OwnerReference[];
  const finalizers = JSON.parse(a[HELD_FINALIZERS_ANNOTATION] ?? '[]') as string[];
  return {
    metadata: {
      labels: { ...labels, [RESTORED_FROM_LABEL]: restored.metadata?.labels?.[RESTORED_FROM_LABEL] ?? '' },
      ownerReferences: owners,
      ...(finalizers.length > 0 ? { finalizers } : {}),
      annotations: {
        [HELD_LABELS_ANNOTATION]: null,
        [HELD_OWNERS_ANNOTATION]: null,
        [HELD_FINALIZERS_ANNOTATION]: null,
        ...(deletionCost !== undefined ? { [DELETION_COST_ANNOTATION]: deletionCost } : {}),
      },
    },
  };
}

export function isStaged(pod: V1Pod): boolean {
  return pod.metadata?.annotations?.[HELD_LABELS_ANNOTATION] !== undefined;
}

/**
 * The restored containers run and pass their readiness probes. Read from
 * ContainersReady rather than Ready: Ready also folds in readiness gates
 * (a load balancer's registration can take minutes) and the node controller
 * turns it False for every pod of a node that missed heartbeats, which says
 * nothing about whether the restore worked.
 */
export function isRunning(pod: V1Pod): boolean {
  if (pod.status?.phase !== 'Running') return false;
  const conditions = pod.status.conditions ?? [];
  const containersReady = conditions.find((c) => c.type === 'ContainersReady');
  if (containersReady) return containersReady.status === 'True';
  return conditions.some((c) => c.type === 'Ready' && c.status === 'True');
}
