import { AuthenticationV1Api, type KubeConfig } from '@kubernetes/client-node';
import { AgentFailure } from './errors.js';

export interface TokenIdentity {
  authenticated: boolean;
  username?: string | undefined;
  audiences?: string[] | undefined;
  error?: string | undefined;
}

/** Asks the cluster who a bearer token belongs to. */
export interface TokenReviewer {
  review(token: string, audience: string): Promise<TokenIdentity>;
}

export class KubeTokenReviewer implements TokenReviewer {
  private readonly api: AuthenticationV1Api;

  constructor(kc: KubeConfig) {
    this.api = kc.makeApiClient(AuthenticationV1Api);
  }

  async review(token: string, audience: string): Promise<TokenIdentity> {
    const res = await this.api.createTokenReview({
      body: {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenReview',
        spec: { token, audiences: [audience] },
      },
    });
    return {
      authenticated: res.status?.authenticated === true,
      username: res.status?.user?.username,
      audiences: res.status?.audiences,
      error: res.status?.error,
    };
  }
}

/**
 * Only the worker's ServiceAccount, presenting a token minted for this
 * node's agent (`audience`, agentTokenAudience(node)), gets in: checkpoints
 * hold process memory and secrets. A token for another node's agent, or for
 * the shared audience of earlier versions, is rejected by the TokenReview
 * itself. No token or a token the cluster rejects: 401; anyone else: 403.
 */
export class CallerAuthenticator {
  private readonly cache = new Map<string, { username: string; until: number }>();

  constructor(
    private readonly reviewer: TokenReviewer,
    private readonly allowed: string,
    readonly audience: string,
    private readonly cacheMs = 10_000,
  ) {}

  async authenticate(authorization: string | undefined): Promise<string> {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!match) throw new AgentFailure('unauthenticated', 'a bearer token is required');
    const token = match[1]!;
    const cached = this.cache.get(token);
    let username: string;
    if (cached && cached.until > Date.now()) {
      username = cached.username;
    } else {
      let id: TokenIdentity;
      try {
        id = await this.reviewer.review(token, this.audience);
      } catch (err) {
        throw new AgentFailure(
          'unauthenticated',
          `the token could not be reviewed: ${(err as Error).message}`,
        );
      }
      if (!id.authenticated || !id.username) {
        throw new AgentFailure('unauthenticated', `the token was rejected${id.error ? `: ${id.error}` : ''}`);
      }
      // The API server answers with the audiences the token and the review share; this node's must be one.
      if (!id.audiences?.includes(this.audience)) {
        throw new AgentFailure('unauthenticated', `the token is not meant for ${this.audience}`);
      }
      username = id.username;
      // Short cache: a deleted ServiceAccount loses access within seconds, and a burst of checkpoints costs one review.
      if (this.cache.size > 1000) this.cache.clear();
      this.cache.set(token, { username, until: Date.now() + this.cacheMs });
    }
    if (username !== this.allowed) throw new AgentFailure('forbidden', `${username} may not call the agent`);
    return username;
  }
}
