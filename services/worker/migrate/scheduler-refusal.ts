import type { V1Node, V1Pod, V1PodCondition, V1Toleration } from '@kubernetes/client-node';
import { TAINT_KEY } from '../../common/labels.js';
import { nodeView } from '../node-view.js';
import { tolerates } from '../placement.js';

/**
 * Taints the node lifecycle controller (kube-controller-manager,
 * nodelifecycle doNoScheduleTaintingPass) keeps in step with the node: it
 * adds and removes them itself, so one that no longer matches the node's
 * state is about to go.
 */
export const UNSCHEDULABLE_TAINT = 'node.kubernetes.io/unschedulable';
export const NOT_READY_TAINT = 'node.kubernetes.io/not-ready';
export const UNREACHABLE_TAINT = 'node.kubernetes.io/unreachable';

/**
 * How long after it joined a node whose Ready condition is not True yet is
 * taken for one still coming up (kubelet registers a node not-ready, and its
 * first minute may see Ready flip while its network starts), not for one
 * that is failing.
 */
export const JOINING_GRACE_MS = 60_000;

/** The copy's PodScheduled=False, reason Unschedulable condition: the scheduler refused it; null otherwise. */
export function schedulerRefusal(pod: V1Pod): V1PodCondition | null {
  const c = pod.status?.conditions?.find((x) => x.type === 'PodScheduled');
  return c?.status === 'False' && c.reason === 'Unschedulable' ? c : null;
}

export interface RefusalInput {
  /** The PodScheduled condition's message: the scheduler's FitError text. */
  message: string | undefined;
  /** The copy's tolerations. */
  tolerations: V1Toleration[];
  /** The target Node as it is now; null when it is gone. */
  node: V1Node | null;
  now: number;
  joiningGraceMs?: number;
}

/**
 * `final`: the copy will not be placed on its target (why, when the refusal
 * named taints alone but the target says they stay). Otherwise the refusal
 * may pass: `taints` are the target's taints the copy waits on (empty when
 * they went already and the scheduler has yet to try again).
 */
export type RefusalVerdict = { final: true; why?: string } | { final: false; taints: string[] };

/**
 * Whether the scheduler's refusal of a copy pinned to its target may pass.
 * Only when it named taints alone and every taint of the target the copy
 * does not tolerate is one the node lifecycle controller is about to take
 * off (a just-uncordoned node's unschedulable taint, the not-ready or
 * unreachable taint of a node that is Ready or still joining), on a target
 * that is still fit: not being deleted, not cordoned, not interrupted.
 * The scheduler tries an unschedulable pod again when a node's taints
 * change, so once they go the copy is placed.
 */
export function refusalVerdict(i: RefusalInput): RefusalVerdict {
  const named = refusedFor(i.message);
  if (!named) return { final: true };
  const n = i.node;
  if (!n) return { final: true, why: 'the target node is gone' };
  if (n.metadata?.deletionTimestamp) return { final: true, why: 'the target node is being deleted' };
  const v = nodeView(n);
  if (v.taints.some((t) => t.key === TAINT_KEY)) return { final: true, why: 'the target is interrupted' };
  if (v.unschedulable) return { final: true, why: 'the target is cordoned' };
  // Past this, a not-ready or unreachable taint is one the controller is about to take off.
  if (!v.ready && !joined(n, i.now, i.joiningGraceMs ?? JOINING_GRACE_MS))
    return { final: true, why: 'the target is not Ready' };
  // Keys the older 1.34 wording names (`{key: value}`): one of another kind is not ours to wait out.
  const other = named.find((k) => !TRANSIENT_KEYS.has(k));
  if (other) return { final: true, why: `its taint ${other} does not go by itself` };
  const untolerated = v.taints.filter(
    (t) => (t.effect === 'NoSchedule' || t.effect === 'NoExecute') && !tolerates(i.tolerations, t),
  );
  for (const t of untolerated) {
    const passing =
      t.key === UNSCHEDULABLE_TAINT
        ? // The controller mirrors spec.unschedulable with a NoSchedule taint only; any other stays.
          t.effect === 'NoSchedule'
        : t.key === NOT_READY_TAINT || t.key === UNREACHABLE_TAINT;
    if (!passing) return { final: true, why: `its taint ${t.key}:${t.effect} does not go by itself` };
  }
  return { final: false, taints: [...new Set(untolerated.map((t) => t.key))] };
}

const TRANSIENT_KEYS = new Set([UNSCHEDULABLE_TAINT, NOT_READY_TAINT, UNREACHABLE_TAINT]);

function joined(n: V1Node, now: number, graceMs: number): boolean {
  const created = n.metadata?.creationTimestamp;
  if (!created) return false;
  return now - new Date(created).getTime() < graceMs;
}

/*
 * The scheduler's refusal, as kube-scheduler 1.34 words it (framework
 * FitError.Error): "0/<all> nodes are available: <count> <reason>, ...."
 * then the PostFilter plugins' words, after ". " (with the defaults,
 * DynamicResources' "no new claims to deallocate, preemption: 0/<all>
 * nodes are available: ..."); a PreFilter refusal has no counts. No reason,
 * taint key or value holds ". ", so the first one ends the histogram. The
 * counts are a histogram over every node; a copy pinned by a metadata.name
 * match is filtered on its target alone (NodeAffinity PreFilter returns that
 * one name), and every other node is counted under "node(s) didn't satisfy
 * plugin(s) [NodeAffinity]". Filters stop at a node's first failure, in
 * the default order NodeUnschedulable, NodeName, TaintToleration,
 * NodeAffinity, NodePorts, NodeResourcesFit, ... so the target has one reason.
 */
const FIT_ERROR = /^0\/\d+ nodes are available: (.*?)\.(?: .*)?$/s;
const PIN = "node(s) didn't satisfy plugin(s) [NodeAffinity]";
/** TaintToleration from 1.34.2 (kubernetes#135023: no taint keys or values in pod statuses). */
const UNTOLERATED = 'node(s) had untolerated taint(s)';
/** TaintToleration before 1.34.2: the first untolerated taint, `{key: value}`. */
const UNTOLERATED_NAMED = /^node\(s\) had untolerated taint \{([^:{}]+): [^{}]*\}$/;
/** NodeUnschedulable: spec.unschedulable, checked before any taint. */
const CORDONED = 'node(s) were unschedulable';

/**
 * The taint keys the refusal names (empty when it names none) if it refused
 * the target for taints or spec.unschedulable alone; null for any other
 * reason, or a text not of that shape.
 */
export function refusedFor(message: string | undefined): string[] | null {
  const m = FIT_ERROR.exec(message ?? '');
  if (!m) return null;
  const keys: string[] = [];
  let targets = 0;
  for (const clause of (m[1] as string).split(', ')) {
    const c = /^(\d+) (.+)$/.exec(clause);
    if (!c) return null;
    const reason = c[2] as string;
    if (reason === PIN) continue;
    const named = UNTOLERATED_NAMED.exec(reason);
    if (reason !== UNTOLERATED && reason !== CORDONED && !named) return null;
    if (named) keys.push(named[1] as string);
    targets += Number(c[1]);
  }
  // One node is looked at: more would mean a pod not pinned as ours are.
  return targets === 1 ? keys : null;
}
