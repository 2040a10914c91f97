import type { NodeCapabilities } from '../../common/agent-api.js';
import type { Logger } from '../../common/logger.js';
import { AgentCallError, type AgentClient } from '../agent-client.js';

const ASK_TIMEOUT_MS = 3000;

/**
 * What each node's agent says its runtime can do, asked once per node and
 * kept for a while (a node's CRIU does not come and go between jobs). An
 * agent that does not answer leaves the node "unknown": it is tried, and the
 * checkpoint or restore call itself fails if it cannot.
 */
export class NodeCapabilityCache {
  private readonly cache = new Map<string, { at: number; caps: NodeCapabilities | null }>();

  constructor(
    private readonly agents: Pick<AgentClient, 'capabilities'>,
    private readonly log: Logger,
    private readonly ttlMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  async get(node: string): Promise<NodeCapabilities | null> {
    const hit = this.cache.get(node);
    if (hit && this.now() - hit.at < this.ttlMs) return hit.caps;
    try {
      const caps = await this.agents.capabilities(node, AbortSignal.timeout(ASK_TIMEOUT_MS));
      this.cache.set(node, { at: this.now(), caps });
      return caps;
    } catch (err) {
      // An agent from before the capabilities call answers 404: it can do what it always did.
      if (err instanceof AgentCallError && err.status === 404)
        this.cache.set(node, { at: this.now(), caps: null });
      else this.log.debug({ node, err: (err as Error).message }, 'node capabilities unknown');
      return null;
    }
  }

  /** Nodes (of these) whose agent says it cannot restore, with its reason. */
  async restoreRefusals(nodes: string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const caps = await Promise.all(nodes.map((n) => this.get(n)));
    nodes.forEach((n, i) => {
      const why = cannotRestore(caps[i] ?? null);
      if (why) out.set(n, why);
    });
    return out;
  }
}

/** Why a node cannot take a restore, or null when it can (or nobody knows). */
export function cannotRestore(caps: NodeCapabilities | null): string | null {
  if (!caps || caps.restore.ok) return null;
  return `cannot restore: ${caps.restore.reason ?? 'the agent says so'}`;
}

/** Why a node cannot checkpoint, or null when it can (or nobody knows). */
export function cannotCheckpoint(caps: NodeCapabilities | null): string | null {
  if (!caps || caps.checkpoint.ok) return null;
  return `the node cannot checkpoint: ${caps.checkpoint.reason ?? 'the agent says so'}`;
}
