import type { CoreV1Api } from '@kubernetes/client-node';

/** Where the agent of a node answers. */
export interface AgentLocator {
  /** Base URL of the node's agent, or null when it has none (yet). */
  locate(node: string): Promise<string | null>;
}

/** A fixed node->URL map (the local stack: one agent process per simulated node). "*" matches any node. */
export class StaticAgentLocator implements AgentLocator {
  constructor(private readonly endpoints: Record<string, string>) {}

  async locate(node: string): Promise<string | null> {
    return this.endpoints[node] ?? this.endpoints['*'] ?? null;
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
    const pod = list.items.find(
      (p) =>
        p.status?.phase === 'Running' &&
        !p.metadata?.deletionTimestamp &&
        p.status.podIP &&
        (p.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
    );
    const ip = pod?.status?.podIP;
    if (!ip) return null;
    const host = ip.includes(':') ? `[${ip}]` : ip;
    return `${this.o.scheme}://${host}:${this.o.port}`;
  }
}
