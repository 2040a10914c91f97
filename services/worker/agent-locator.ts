import type { CoreV1Api, V1Pod } from '@kubernetes/client-node';

/** Where the agent of a node answers. */
export interface AgentLocator {
  /** Base URL of the node's agent, or null when it has none (yet). */
  locate(node: string): Promise<string | null>;
  /** Of these nodes, the ones with an agent to restore on: a node without one is no target. */
  withAgents(nodes: string[]): Promise<Set<string>>;
}

/** A fixed node->URL map (the local stack: one agent process per simulated node). "*" matches any node. */
export class StaticAgentLocator implements AgentLocator {
  constructor(private readonly endpoints: Record<string, string>) {}

  async locate(node: string): Promise<string | null> {
    return this.endpoints[node] ?? this.endpoints['*'] ?? null;
  }

  async withAgents(nodes: string[]): Promise<Set<string>> {
    return new Set(nodes.filter((n) => n in this.endpoints || '*' in this.endpoints));
  }
}

/** Production: the running, ready agent DaemonSet pod bound to the node, by its pod IP. */
export class DaemonSetAgentLocator implements AgentLocator {
  constructor(
    private readonly core: CoreV1Api,
    private readonly o: { namespace: string; selector: string; port: number; scheme: 'http' | 'https' },
  ) {}

  async locate(node: string): Promise<string | null> {
    const list = await this.core.listNamespacedPod({
      namespace: this.o.namespace,
      labelSelector: this.o.selector,
      fieldSelector: `spec.nodeName=${node}`,
    });
    const pod = list.items.find(isReadyAgent);
    const ip = pod?.status?.podIP;
    if (!ip) return null;
    const host = ip.includes(':') ? `[${ip}]` : ip;
    return `${this.o.scheme}://${host}:${this.o.port}`;
  }

  /** One list of the DaemonSet's pods answers for every candidate at once. */
  async withAgents(nodes: string[]): Promise<Set<string>> {
    const list = await this.core.listNamespacedPod({
      namespace: this.o.namespace,
      labelSelector: this.o.selector,
    });
    const ready = new Set(list.items.filter(isReadyAgent).map((p) => p.spec?.nodeName));
    return new Set(nodes.filter((n) => ready.has(n)));
  }
}

function isReadyAgent(p: V1Pod): boolean {
  return (
    p.status?.phase === 'Running' &&
    !p.metadata?.deletionTimestamp &&
    Boolean(p.status.podIP) &&
    (p.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True')
  );
}
