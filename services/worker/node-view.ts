import type { V1Node, V1NodeSelectorTerm, V1Pod } from '@kubernetes/client-node';
import { RESTORED_FROM_ANNOTATION } from '../common/labels.js';
import { bytes, cpuMillis } from '../common/quantity.js';
import type { NodeView, PodDemand } from './placement.js';
import { podRequests } from './pod-resources.js';

export const ZONE_LABEL = 'topology.kubernetes.io/zone';
export const ARCH_LABEL = 'kubernetes.io/arch';
export const INSTANCE_TYPE_LABEL = 'node.kubernetes.io/instance-type';
const CAPACITY_TYPE_LABELS = ['eks.amazonaws.com/capacityType', 'karpenter.sh/capacity-type'];

/** A Node object as placement sees it. */
export function nodeView(node: V1Node): NodeView {
  const labels = node.metadata?.labels ?? {};
  const zone = labels[ZONE_LABEL];
  const type = labels[INSTANCE_TYPE_LABEL];
  const alloc = node.status?.allocatable ?? {};
  return {
    name: node.metadata?.name ?? '',
    labels,
    taints: (node.spec?.taints ?? []).map((t) => ({ key: t.key, value: t.value, effect: t.effect })),
    ready: (node.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
    unschedulable: node.spec?.unschedulable === true,
    allocatable: {
      cpuMillis: cpuMillis(alloc['cpu']),
      memoryBytes: bytes(alloc['memory']),
      pods: alloc['pods'] ? Number.parseInt(alloc['pods'], 10) : 110,
    },
    zone,
    arch: labels[ARCH_LABEL],
    capacityType: capacityType(labels),
    pool: type && zone ? `${type}/${zone}` : undefined,
  };
}

function capacityType(labels: Record<string, string>): NodeView['capacityType'] {
  for (const key of CAPACITY_TYPE_LABELS) {
    const v = labels[key]?.toLowerCase().replace('_', '-');
    if (v === 'spot') return 'spot';
    if (v === 'on-demand') return 'on-demand';
  }
  return 'unknown';
}

/** The controller (or the pod itself) that spread is counted by. */
export function ownerKey(pod: V1Pod): string | undefined {
  const ref = pod.metadata?.ownerReferences?.find((r) => r.controller);
  return ref ? `${pod.metadata?.namespace}/${ref.kind}/${ref.name}` : undefined;
}

/** A pod's placement constraints; volumeZones come from its PersistentVolumes (cluster I/O). */
export function podDemand(pod: V1Pod, source: NodeView | undefined, volumeZones: string[]): PodDemand {
  const spec = pod.spec;
  const own =
    spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
  const terms = pod.metadata?.annotations?.[RESTORED_FROM_ANNOTATION] ? withoutRescuePin(own) : own;
  return {
    requests: podRequests(pod),
    tolerations: spec?.tolerations ?? [],
    nodeSelector: spec?.nodeSelector ?? {},
    requiredTerms: terms,
    volumeZones,
    sourceNode: spec?.nodeName ?? source?.name ?? '',
    sourceArch: source?.arch,
    sourcePool: source?.pool,
    ownerKey: ownerKey(pod),
  };
}

/**
 * A restored pod carries a required match on the name of the node it was
 * restored to (restored-pod.ts, pinnedTo), which replaced any name match of
 * its own. Rescued again, that pin would leave it no node but the dying one:
 * placement sees the pod's own constraints only.
 */
export function withoutRescuePin(terms: V1NodeSelectorTerm[]): V1NodeSelectorTerm[] {
  const stripped = terms.map((t) => ({
    ...t,
    matchFields: (t.matchFields ?? []).filter((f) => f.key !== 'metadata.name'),
  }));
  // A term left empty was only the pin; an empty term would match no node at all.
  return stripped.some((t) => (t.matchExpressions ?? []).length === 0 && t.matchFields.length === 0)
    ? []
    : stripped;
}

/** Pods that still occupy their node (the scheduler's view: bound and not finished). */
export function occupiesNode(pod: V1Pod): boolean {
  const phase = pod.status?.phase;
  return Boolean(pod.spec?.nodeName) && phase !== 'Succeeded' && phase !== 'Failed';
}
