/**
 * Simulation only. On EKS every node runs its own agent; on one machine the
 * simulated nodes' agents are packed into processes (infra/sim/agent-host.ts).
 * This decides the packing, apart from starting anything.
 */

export interface AgentProcessGroup<N extends { name: string }> {
  nodes: N[];
  /** Scheduling niceness of the group's process. */
  nice: number;
}

/**
 * Splits the nodes into processes of at most `perProcess` agents. Nodes that
 * only receive restores are grouped apart, at a lower CPU priority (nice 10):
 * on EKS the restores run on other machines' cores than the doomed nodes'
 * dumps, here they share one machine's, and must not slow the dumps down.
 * The doomed nodes' groups come first, in the nodes' order.
 */
export function planAgentProcessGroups<N extends { name: string }>(
  nodes: readonly N[],
  perProcess: number,
  restoreOnly: ReadonlySet<string> = new Set(),
): AgentProcessGroup<N>[] {
  if (!(perProcess >= 1)) throw new Error(`agents per process must be at least 1, not ${perProcess}`);
  const groups: AgentProcessGroup<N>[] = [];
  for (const [members, nice] of [
    [nodes.filter((n) => !restoreOnly.has(n.name)), 0],
    [nodes.filter((n) => restoreOnly.has(n.name)), 10],
  ] as const) {
    for (let i = 0; i < members.length; i += perProcess)
      groups.push({ nodes: members.slice(i, i + perProcess), nice });
  }
  return groups;
}
