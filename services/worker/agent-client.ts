import { readFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { z } from 'zod';
import {
  type AgentError,
  agentErrorSchema,
  type CheckpointRequest,
  type CheckpointStatus,
  checkpointStatusSchema,
  type NodeCapabilities,
  nodeCapabilitiesSchema,
  type ReleaseRequest,
  type ReleaseResponse,
  type RestoreRequest,
  type RestoreResponse,
  releaseResponseSchema,
  restoreResponseSchema,
} from '../common/agent-api.js';
import type { AgentLocator } from './agent-locator.js';
import type { AgentTokenSource } from './agent-tokens.js';

/** An agent answered with an error (or not at all); `code` is the contract's error code or a transport one. */
export class AgentCallError extends Error {
  constructor(
    readonly code: AgentError['error'] | 'unreachable' | 'no-agent' | 'bad-response' | 'aborted',
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'AgentCallError';
  }

  /** Errors a retry of the same call may get past. */
  get transient(): boolean {
    return this.code === 'unreachable' || this.code === 'storage-failed' || (this.status ?? 0) >= 500;
  }
}

/** The worker's side of services/common/agent-api.ts. */
export interface AgentClient {
  /** Returns the raw JSON the agent answered (the manifest); the caller reads the stored manifest. */
  checkpoint(node: string, req: CheckpointRequest, signal: AbortSignal): Promise<unknown>;
  /** Asks for a checkpoint and returns at once: accepted (with the agent's estimate) or thrown (refused). */
  startCheckpoint(node: string, req: CheckpointRequest, signal: AbortSignal): Promise<CheckpointStatus>;
  /** A started checkpoint's state, after waiting up to `waitSeconds` on the agent for it to end. */
  checkpointStatus(
    node: string,
    checkpointId: string,
    waitSeconds: number,
    signal: AbortSignal,
  ): Promise<CheckpointStatus>;
  restore(node: string, req: RestoreRequest, signal: AbortSignal): Promise<RestoreResponse>;
  /** Thaws what a checkpoint froze on the node and drops its leftovers; idempotent. */
  release(node: string, req: ReleaseRequest, signal: AbortSignal): Promise<ReleaseResponse>;
  /** What the node's runtime can do (checkpoint, restore), as its agent measured it. */
  capabilities(node: string, signal: AbortSignal): Promise<NodeCapabilities>;
  /** Of these nodes, those whose agent can take a restore. */
  withAgents(nodes: string[]): Promise<Set<string>>;
}

export interface HttpAgentClientOptions {
  locator: AgentLocator;
  /** The worker's token for each node's agent (per-node audience, services/worker/agent-tokens.ts). */
  tokens: AgentTokenSource;
  caFile?: string | undefined;
  /** Verify agents' certificates against this name instead of the pod IP dialled. */
  tlsServerName?: string | undefined;
}

export class HttpAgentClient implements AgentClient {
  constructor(private readonly o: HttpAgentClientOptions) {}

  async checkpoint(node: string, req: CheckpointRequest, signal: AbortSignal): Promise<unknown> {
    return this.call(node, '/v1/checkpoints', req, signal, null);
  }

  async startCheckpoint(
    node: string,
    req: CheckpointRequest,
    signal: AbortSignal,
  ): Promise<CheckpointStatus> {
    return this.call(node, '/v1/checkpoints', req, signal, checkpointStatusSchema, {
      prefer: 'respond-async',
    });
  }

  async checkpointStatus(
    node: string,
    checkpointId: string,
    waitSeconds: number,
    signal: AbortSignal,
  ): Promise<CheckpointStatus> {
    const path = `/v1/checkpoints/${encodeURIComponent(checkpointId)}?waitSeconds=${Math.max(0, Math.floor(waitSeconds))}`;
    return this.call(node, path, undefined, signal, checkpointStatusSchema);
  }

  async restore(node: string, req: RestoreRequest, signal: AbortSignal): Promise<RestoreResponse> {
    return this.call(node, '/v1/restores', req, signal, restoreResponseSchema);
  }

  async release(node: string, req: ReleaseRequest, signal: AbortSignal): Promise<ReleaseResponse> {
    return this.call(node, '/v1/releases', req, signal, releaseResponseSchema);
  }

  async capabilities(node: string, signal: AbortSignal): Promise<NodeCapabilities> {
    return this.call(node, '/v1/capabilities', undefined, signal, nodeCapabilitiesSchema);
  }

  withAgents(nodes: string[]): Promise<Set<string>> {
    return this.o.locator.withAgents(nodes);
  }

  /** POSTs `body` as JSON, or GETs when there is none. */
  private async call<T>(
    node: string,
    path: string,
    body: unknown,
    signal: AbortSignal,
    schema: z.ZodType<T> | null,
    headers: Record<string, string> = {},
  ): Promise<T> {
    const base = await this.o.locator.locate(node);
    if (!base) throw new AgentCallError('no-agent', `no agent found on node ${node}`);
    let token: string;
    try {
      token = await this.o.tokens.tokenFor(node);
    } catch (err) {
      throw new AgentCallError('unreachable', `no token for the agent on ${node}: ${(err as Error).message}`);
    }
    const ca = this.o.caFile ? await readFile(this.o.caFile) : undefined;
    const { status, text } = await requestJson(
      `${base}${path}`,
      body,
      token,
      { ca, servername: this.o.tlsServerName },
      signal,
      headers,
    );
    let json: unknown;
    try {
      json = text.length > 0 ? JSON.parse(text) : null;
    } catch {
      throw new AgentCallError('bad-response', `agent on ${node} answered ${status} with non-JSON`, status);
    }
    if (status < 200 || status >= 300) {
      const err = agentErrorSchema.safeParse(json);
      if (err.success)
        throw new AgentCallError(err.data.error, `agent on ${node}: ${err.data.message}`, status);
      throw new AgentCallError(
        'bad-response',
        `agent on ${node} answered ${status}: ${text.slice(0, 200)}`,
        status,
      );
    }
    if (!schema) return json as T;
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      throw new AgentCallError(
        'bad-response',
        `agent on ${node}: ${parsed.error.issues[0]?.message}`,
        status,
      );
    }
    return parsed.data;
  }
}

function requestJson(
  url: string,
  body: unknown,
  token: string,
  tls: { ca: Buffer | undefined; servername: string | undefined },
  signal: AbortSignal,
  headers: Record<string, string>,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(new AgentCallError('aborted', `call to ${url} aborted: ${String(signal.reason)}`));
      return;
    }
    const payload = body === undefined ? null : Buffer.from(JSON.stringify(body));
    const u = new URL(url);
    const mod = u.protocol === 'https:' ? https : http;
    const req = mod.request(
      u,
      {
        method: payload ? 'POST' : 'GET',
        headers: {
          ...(payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {}),
          authorization: `Bearer ${token}`,
          ...headers,
        },
        ...(tls.ca ? { ca: tls.ca } : {}),
        // Node checks the certificate against the SNI name when one is given.
        ...(tls.servername ? { servername: tls.servername } : {}),
        signal,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', (e) => reject(new AgentCallError('unreachable', `${url}: ${e.message}`)));
      },
    );
    req.on('error', (e) => {
      if (signal.aborted)
        reject(new AgentCallError('aborted', `call to ${url} aborted: ${String(signal.reason)}`));
      else reject(new AgentCallError('unreachable', `${url}: ${e.message}`));
    });
    req.end(payload ?? undefined);
  });
}
