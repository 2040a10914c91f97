import { TAINT_KEY } from '../common/labels.js';
import { addResources, type Resources, ZERO } from './pod-resources.js';

/** What placement needs to know about a node (built from the Node object by node-view.ts). */
export interface NodeView {
  name: string;
  labels: Record<string, string>;
  taints: Taint[];
  ready: boolean;
  unschedulable: boolean;
  allocatable: Resources;
  zone?: string | undefined;
  arch?: string | undefined;
  capacityType: 'on-demand' | 'spot' | 'unknown';
  /** Spot capacity pool: instance type + zone. Two nodes in one pool tend to be reclaimed together. */
  pool?: string | undefined;
}

export interface Taint {
  key: string;
  value?: string | undefined;
  effect: string;
}

export interface Toleration {
  key?: string | undefined;
  operator?: string | undefined;
  value?: string | undefined;
  effect?: string | undefined;
}

export interface NodeSelectorRequirement {
  key: string;
  operator: string;
  values?: string[] | undefined;
}

export interface NodeSelectorTerm {
  matchExpressions?: NodeSelectorRequirement[] | undefined;
  matchFields?: NodeSelectorRequirement[] | undefined;
}

/** The pod to place, reduced to what constrains it. */
export interface PodDemand {
  requests: Resources;
  tolerations: Toleration[];
  nodeSelector: Record<string, string>;
  /** requiredDuringSchedulingIgnoredDuringExecution terms: any one must match. Empty = no constraint. */
  requiredTerms: NodeSelectorTerm[];
  /** Zones its persistent volumes live in; the target must be in all of them. */
  volumeZones: string[];
  sourceNode: string;
  sourceArch?: string | undefined;
  sourcePool?: string | undefined;
  /** Pods with the same owner are spread across targets. */
  ownerKey?: string | undefined;
}

export interface PlacementInput {
  pod: PodDemand;
  nodes: NodeView[];
  /** Requests of the pods already bound to each node (not finished). */
  used: Map<string, Resources>;
  /** Capacity other migrations have reserved on each node but not yet used. */
  reserved: Map<string, Resources>;
  /** Nodes that are themselves under an interruption warning. */
  interrupted: Set<string>;
  /** Per node, how many pods of each owner already run there (for spread). */
  ownerCounts?: Map<string, Map<string, number>>;
  /** Nodes whose agent says it cannot restore, with its reason (from the node's capabilities). */
  cannotRestore?: Map<string, string>;
}

export type PlacementResult =
  | { node: string; score: number; rejected: Record<string, string> }
  | { node: null; rejected: Record<string, string> };

/**
 * The node a rescued pod should be restored on, or null with the reason each
 * node was rejected. Hard constraints first (every one the scheduler would
 * apply, and a few of our own), then a score: on-demand over spot, another
 * spot pool over the doomed one, fewer siblings, more room left.
 */
export function choosePlacement(input: PlacementInput): PlacementResult {
  const rejected: Record<string, string> = {};
  let best: { node: string; score: number } | null = null;
  for (const node of input.nodes) {
    const why = rejection(node, input);
    if (why) {
      rejected[node.name] = why;
      continue;
    }
    const score = scoreNode(node, input);
    if (!best || score > best.score || (score === best.score && node.name < best.node)) {
      best = { node: node.name, score };
    }
  }
  return best ? { ...best, rejected } : { node: null, rejected };
}

function rejection(node: NodeView, input: PlacementInput): string | null {
  const pod = input.pod;
  if (node.name === pod.sourceNode) return 'source node';
  if (!node.ready) return 'not ready';
  if (node.unschedulable) return 'unschedulable';
  if (input.interrupted.has(node.name)) return 'interrupted';
  const noRestore = input.cannotRestore?.get(node.name);
  if (noRestore) return noRestore;
  if (node.taints.some((t) => t.key === TAINT_KEY)) return 'tainted by spot-rescue';
  const untolerated = node.taints.find(
    (t) => (t.effect === 'NoSchedule' || t.effect === 'NoExecute') && !tolerates(pod.tolerations, t),
  );
  if (untolerated) return `untolerated taint ${untolerated.key}`;
  for (const [k, v] of Object.entries(pod.nodeSelector)) {
    if (node.labels[k] !== v) return `nodeSelector ${k}=${v}`;
  }
  if (pod.requiredTerms.length > 0 && !pod.requiredTerms.some((t) => termMatches(t, node))) {
    return 'required node affinity';
  }
  if (pod.sourceArch && node.arch && node.arch !== pod.sourceArch) return `arch ${node.arch}`;
  for (const z of pod.volumeZones) {
    if (node.zone !== z) return `volume zone ${z}`;
  }
  const free = freeOn(node, input);
  if (pod.requests.cpuMillis > free.cpuMillis) return 'insufficient cpu';
  if (pod.requests.memoryBytes > free.memoryBytes) return 'insufficient memory';
  if (pod.requests.pods > free.pods) return 'too many pods';
  return null;
}

export function freeOn(node: NodeView, input: Pick<PlacementInput, 'used' | 'reserved'>): Resources {
  const taken = addResources(input.used.get(node.name) ?? ZERO, input.reserved.get(node.name) ?? ZERO);
  return {
    cpuMillis: node.allocatable.cpuMillis - taken.cpuMillis,
    memoryBytes: node.allocatable.memoryBytes - taken.memoryBytes,
    pods: node.allocatable.pods - taken.pods,
  };
}

function scoreNode(node: NodeView, input: PlacementInput): number {
  const pod = input.pod;
  let score = 0;
  if (node.capacityType === 'on-demand') score += 1000;
  else if (node.capacityType === 'spot' && node.pool && pod.sourcePool && node.pool !== pod.sourcePool) {
    score += 500;
  }
  if (pod.ownerKey) score -= 100 * (input.ownerCounts?.get(node.name)?.get(pod.ownerKey) ?? 0);
  // Least allocated (after placing this pod), 0..100: a tie-breaker that also spreads.
  const free = freeOn(node, input);
  const cpuLeft =
    node.allocatable.cpuMillis > 0
      ? (free.cpuMillis - pod.requests.cpuMillis) / node.allocatable.cpuMillis
      : 0;
  const memLeft =
    node.allocatable.memoryBytes > 0
      ? (free.memoryBytes - pod.requests.memoryBytes) / node.allocatable.memoryBytes
      : 0;
  score += Math.round(50 * cpuLeft + 50 * memLeft);
  return score;
}

/** Kubernetes toleration semantics (empty key + Exists tolerates everything). */
export function tolerates(tolerations: Toleration[], taint: Taint): boolean {
  return tolerations.some((t) => {
    if (t.effect && t.effect !== taint.effect) return false;
    if (!t.key) return t.operator === 'Exists';
    if (t.key !== taint.key) return false;
    if (t.operator === 'Exists') return true;
    return (t.value ?? '') === (taint.value ?? '');
  });
}

function termMatches(term: NodeSelectorTerm, node: NodeView): boolean {
  const exprs = term.matchExpressions ?? [];
  const fields = term.matchFields ?? [];
  // An empty term matches no node (as in the scheduler).
  if (exprs.length === 0 && fields.length === 0) return false;
  return (
    exprs.every((r) => requirementMatches(r, node.labels[r.key])) &&
    fields.every((r) => requirementMatches(r, r.key === 'metadata.name' ? node.name : undefined))
  );
}

function requirementMatches(r: NodeSelectorRequirement, value: string | undefined): boolean {
  const values = r.values ?? [];
  switch (r.operator) {
    case 'In':
      return value !== undefined && values.includes(value);
    case 'NotIn':
      return value === undefined || !values.includes(value);
    case 'Exists':
      return value !== undefined;
    case 'DoesNotExist':
      return value === undefined;
    case 'Gt':
    case 'Lt': {
      if (value === undefined || values.length !== 1) return false;
      const a = Number.parseInt(value, 10);
      const b = Number.parseInt(values[0] as string, 10);
      if (Number.isNaN(a) || Number.isNaN(b)) return false;
      return r.operator === 'Gt' ? a > b : a < b;
    }
    default:
      return false;
  }
}
