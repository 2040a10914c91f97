import type { CoreV1Api } from '@kubernetes/client-node';
import { agentTokenAudience } from '../common/agent-api.js';

export interface MintedToken {
  token: string;
  /** Epoch ms after which the API server no longer accepts it. */
  expiresAt: number;
}

/** Mints a token of the worker's own ServiceAccount for one audience (the TokenRequest API). */
export interface TokenMinter {
  mint(audience: string, expirationSeconds: number): Promise<MintedToken>;
}

/** The worker's tokens towards the agents: one per node, each accepted by that node's agent only. */
export interface AgentTokenSource {
  tokenFor(node: string): Promise<string>;
}

export class KubeTokenMinter implements TokenMinter {
  constructor(
    private readonly core: CoreV1Api,
    private readonly serviceAccount: { namespace: string; name: string },
  ) {}

  async mint(audience: string, expirationSeconds: number): Promise<MintedToken> {
    const res = await this.core.createNamespacedServiceAccountToken({
      name: this.serviceAccount.name,
      namespace: this.serviceAccount.namespace,
      body: { spec: { audiences: [audience], expirationSeconds } },
    });
    const token = res.status?.token;
    if (!token) throw new Error(`TokenRequest for ${audience} returned no token`);
    // The API server may shorten (never lengthen beyond its maximum) what was asked; its answer is the truth.
    const stated = res.status?.expirationTimestamp ? new Date(res.status.expirationTimestamp).getTime() : NaN;
    return { token, expiresAt: Number.isFinite(stated) ? stated : Date.now() + expirationSeconds * 1000 };
  }
}

export interface AgentTokensOptions {
  /** Lifetime asked for each token; the API server's minimum is 600 s. */
  expirationSeconds: number;
  /** A token with less than this left is replaced before it is used again. */
  renewBeforeMs: number;
  now?: () => number;
}

/**
 * Per-node agent tokens, minted on first use and reused until near expiry.
 * Concurrent calls for one node share one TokenRequest, so a burst of rescues
 * from one node costs one mint.
 */
export class AgentTokens implements AgentTokenSource {
  private readonly cache = new Map<string, MintedToken>();
  private readonly pending = new Map<string, Promise<MintedToken>>();
  private readonly now: () => number;

  constructor(
    private readonly minter: TokenMinter,
    private readonly o: AgentTokensOptions,
  ) {
    this.now = o.now ?? Date.now;
  }

  async tokenFor(node: string): Promise<string> {
    const cached = this.cache.get(node);
    if (cached && cached.expiresAt - this.now() > this.o.renewBeforeMs) return cached.token;
    let minting = this.pending.get(node);
    if (!minting) {
      minting = this.minter.mint(agentTokenAudience(node), this.o.expirationSeconds).finally(() => {
        this.pending.delete(node);
      });
      this.pending.set(node, minting);
    }
    const minted = await minting;
    // Nodes come and go: drop the expired entries rather than keep one per node the cluster ever had.
    for (const [n, t] of this.cache) if (t.expiresAt <= this.now()) this.cache.delete(n);
    this.cache.set(node, minted);
    return minted.token;
  }
}
