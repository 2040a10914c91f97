import type { AgentThroughput } from '../common/agent-api.js';

export interface AgentRatesOptions {
  /** A rate older than this is forgotten (ms). */
  maxAgeMs?: number;
  /** At most this many nodes are remembered; the longest unheard is forgotten first. */
  maxNodes?: number;
  now?: () => number;
}

/**
 * The latest checkpoint throughput each node's agent measured, as its
 * checkpoint answers reported it. Only measured figures are kept: an agent
 * still on its assumption (just started, or all its checkpoints agreed with
 * it) knows no more than the worker does. A figure is forgotten after a
 * while: a node is interrupted two minutes after its warning, and a later
 * node of the same name (a reused private IP) may be another instance type.
 */
export class AgentRates {
  private readonly byNode = new Map<string, { bytesPerSec: number; at: number }>();
  private readonly maxAgeMs: number;
  private readonly maxNodes: number;
  private readonly now: () => number;

  constructor(o: AgentRatesOptions = {}) {
    this.maxAgeMs = o.maxAgeMs ?? 15 * 60_000;
    this.maxNodes = o.maxNodes ?? 4096;
    this.now = o.now ?? Date.now;
  }

  observe(node: string, reported: AgentThroughput | undefined): void {
    if (reported?.basis !== 'measured') return;
    this.byNode.delete(node);
    this.byNode.set(node, { bytesPerSec: reported.bytesPerSec, at: this.now() });
    for (const oldest of this.byNode.keys()) {
      if (this.byNode.size <= this.maxNodes) break;
      this.byNode.delete(oldest);
    }
  }

  /** Bytes per second the node's agent last measured, or undefined if it has reported none lately. */
  measured(node: string): number | undefined {
    const r = this.byNode.get(node);
    if (!r) return undefined;
    if (this.now() - r.at > this.maxAgeMs) {
      this.byNode.delete(node);
      return undefined;
    }
    return r.bytesPerSec;
  }
}
