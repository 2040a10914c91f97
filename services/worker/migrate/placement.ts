import type { V1Pod } from '@kubernetes/client-node';
import { TAINT_KEY } from '../../common/labels.js';
import { nodeView, occupiesNode, ownerKey, podDemand } from '../node-view.js';
import { choosePlacement, freeOn, type NodeView } from '../placement.js';
import { podRequests, type Resources } from '../pod-resources.js';
import type { MigrateDeps, Run } from './context.js';
import { isOwnPlaceholder } from './demand.js';

/** The node is still a fit target: Ready, schedulable, not itself interrupted. */
export async function usable(d: MigrateDeps, node: string): Promise<boolean> {
  const n = await d.cluster.getNode(node);
  if (!n) return false;
  const v = nodeView(n);
  return v.ready && !v.unschedulable && !v.taints.some((t) => t.key === TAINT_KEY);
}

/** Chooses a node and reserves the pod's requests on it; null when none fits. */
export async function place(run: Run, pod: V1Pod): Promise<string | null> {
  const { d, holder, job } = run;
  const held = await d.reservations.heldBy(holder);
  if (held && (await usable(d, held))) return held;
  const requests = podRequests(pod);
  for (let attempt = 0; attempt < 5; attempt++) {
    const [nodes, volumeZones] = await Promise.all([d.cluster.listNodes(), d.cluster.volumeZones(pod)]);
    const views = nodes.map(nodeView);
    const byName = new Map<string, NodeView>(views.map((v) => [v.name, v]));
    const interrupted = new Set(
      views.filter((v) => v.taints.some((t) => t.key === TAINT_KEY)).map((v) => v.name),
    );
    interrupted.add(job.node.name);
    const demand = podDemand(pod, byName.get(job.node.name), volumeZones);
    // Only nodes that pass every other constraint are worth counting pods on.
    const unbounded = {
      cpuMillis: Number.MAX_SAFE_INTEGER,
      memoryBytes: Number.MAX_SAFE_INTEGER,
      pods: Number.MAX_SAFE_INTEGER,
    };
    const roomy = views.map((v) => ({ ...v, allocatable: unbounded }));
    const pre = choosePlacement({
      pod: demand,
      nodes: roomy,
      used: new Map(),
      reserved: new Map(),
      interrupted,
    });
    const fitting = views.filter((v) => !(v.name in pre.rejected));
    // A node with no agent (not yet started, or not part of spot-rescue) cannot take a restore.
    const reachable = await d.agents.withAgents(fitting.map((v) => v.name));
    for (const v of fitting)
      if (!reachable.has(v.name)) pre.rejected[v.name] = 'no spot-rescue agent on the node';
    const candidates = fitting.filter((v) => reachable.has(v.name));
    const cannotRestore = await d.capabilities.restoreRefusals(candidates.map((v) => v.name));
    const bound = await d.cluster.listPodsOnNodes(candidates.map((v) => v.name));
    const used = new Map<string, Resources>();
    const ownerCounts = new Map<string, Map<string, number>>();
    for (const p of bound) {
      if (!occupiesNode(p) || isOwnPlaceholder(p, run.uid)) continue;
      const n = p.spec?.nodeName as string;
      const r = podRequests(p);
      const u = used.get(n) ?? { cpuMillis: 0, memoryBytes: 0, pods: 0 };
      used.set(n, {
        cpuMillis: u.cpuMillis + r.cpuMillis,
        memoryBytes: u.memoryBytes + r.memoryBytes,
        pods: u.pods + 1,
      });
      const k = ownerKey(p);
      if (k) {
        const m = ownerCounts.get(n) ?? new Map<string, number>();
        m.set(k, (m.get(k) ?? 0) + 1);
        ownerCounts.set(n, m);
      }
    }
    const reserved = await d.reservations.reservedOn(candidates.map((v) => v.name));
    const result = choosePlacement({
      pod: demand,
      nodes: candidates,
      used,
      reserved,
      interrupted,
      ownerCounts,
      cannotRestore,
    });
    if (!result.node) {
      run.log.info({ rejected: { ...pre.rejected, ...result.rejected } }, 'no node fits');
      return null;
    }
    const node = byName.get(result.node) as NodeView;
    const free = freeOn(node, { used, reserved: new Map() });
    if (await d.reservations.reserve(result.node, holder, requests, free)) return result.node;
    // Another worker took the room between our read and our claim: look again.
  }
  return null;
}

/** Places the pod, polling (capacity may be on its way) until `until`; null when nothing came. */
export async function waitForTarget(
  run: Run,
  pod: V1Pod,
  until: number,
  pollMs: number,
): Promise<string | null> {
  for (;;) {
    const t = await place(run, pod);
    if (t) return t;
    if (run.now() + pollMs >= until) return null;
    await run.sleep(pollMs);
  }
}
