import { randomUUID } from 'node:crypto';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { type AgentHandle, startLocalAgent } from '../../infra/sim/local-agent.js';
import { removeSimNodeState } from '../../infra/sim/sim-node-state.js';
import { parseProgress } from '../../services/agent/runtimes/runc/local-containers.js';
import { type RunningAgent, startAgent } from '../../services/agent/service.js';
import { agentSettings } from '../../services/agent/settings.js';
import { AGENT_TOKEN_AUDIENCE } from '../../services/common/agent-api.js';
import { readConfig } from '../../services/common/config.js';
import { loadKubeConfig } from '../../services/common/kube.js';
import { AgentTokens, KubeTokenMinter } from '../../services/worker/agent-tokens.js';
import { createBucket, deleteBucket, s3Client } from './buckets.js';
import { stackEnv, uniqueName, waitFor } from './stack.js';

/** A real agent process serving one simulated node, as the demo and production run it. */
export type AgentProcess = AgentHandle;

/** The agent through infra/sim/local-agent.ts; stopping it also removes the node's files and cgroups. */
export async function startAgentProcess(
  node: string,
  allowedSa: string,
  extraEnv: Record<string, string> = {},
): Promise<AgentProcess> {
  const agent = await startLocalAgent({
    node,
    allowedServiceAccount: allowedSa,
    stateDir: stackEnv().stateDir,
    env: { SPOT_RESCUE_LOG_LEVEL: 'info', ...extraEnv },
  });
  return {
    ...agent,
    stop: async () => {
      await agent.stop();
      await removeNodeState(node);
    },
  };
}

/**
 * The agent started in this test's process (runc runtime, 127.0.0.1, a free
 * port) for a simulated node, trusting `allowedSa`; `env` adds or overrides
 * settings (TLS files, say). Closing it also removes the node's files and cgroups.
 */
export async function startInProcessAgent(
  node: string,
  allowedSa: string,
  env: Record<string, string> = {},
): Promise<RunningAgent> {
  const agent = await startAgent(
    readConfig(agentSettings, {
      ...process.env,
      SPOT_RESCUE_NODE_NAME: node,
      SPOT_RESCUE_AGENT_RUNTIME: 'runc',
      SPOT_RESCUE_AGENT_HOST: '127.0.0.1',
      SPOT_RESCUE_AGENT_PORT: '0',
      SPOT_RESCUE_AGENT_ALLOWED_SA: allowedSa,
      SPOT_RESCUE_STATE_DIR: stackEnv().stateDir,
      SPOT_RESCUE_LOG_LEVEL: 'silent',
      ...env,
    }),
  );
  return {
    ...agent,
    close: async () => {
      await agent.close();
      await removeNodeState(node);
    },
  };
}

/** A simulated node's containers, files and cgroups. */
export async function removeNodeState(node: string): Promise<void> {
  await removeSimNodeState(stackEnv().stateDir, [node]);
}

export interface CallResult<T = unknown> {
  status: number;
  body: T;
}

/** A bearer token, or a source of one per node (the worker's tokens are each good for one node's agent). */
export type CallerToken = string | ((node: string) => Promise<string>);

export async function bearer(token: CallerToken, node: string): Promise<string> {
  return typeof token === 'string' ? token : token(node);
}

export async function call<T = Record<string, unknown>>(
  agent: { url: string; node: string },
  method: string,
  path: string,
  token: CallerToken | undefined,
  body?: unknown,
): Promise<CallResult<T>> {
  const resolved = token === undefined ? undefined : await bearer(token, agent.node);
  const res = await fetch(`${agent.url}${path}`, {
    method,
    headers: {
      ...(resolved !== undefined ? { authorization: `Bearer ${resolved}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

/**
 * A namespace with the worker's ServiceAccount and a stranger, and tokens of
 * both minted per node as the worker mints its own (services/worker/agent-tokens.ts).
 */
export interface Identities {
  namespace: string;
  allowedSa: string;
  workerToken: (node: string) => Promise<string>;
  strangerToken: (node: string) => Promise<string>;
  /** A real token of the worker, but minted for another audience. */
  wrongAudienceToken: string;
  /** A real token of the worker for the audience every agent shared before tokens were per node. */
  sharedAudienceToken: string;
  cleanup(): Promise<void>;
}

export async function createIdentities(): Promise<Identities> {
  const kc: KubeConfig = loadKubeConfig(stackEnv().kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  const namespace = uniqueName('agent-e2e');
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  const token = async (name: string, audience: string) => {
    const r = await core.createNamespacedServiceAccountToken({
      name,
      namespace,
      body: { spec: { audiences: [audience], expirationSeconds: 3600 } },
    });
    const issued = r.status?.token;
    if (!issued) throw new Error(`no token issued for service account ${name}`);
    return issued;
  };
  for (const name of ['worker', 'stranger']) {
    await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } });
  }
  const perNode = (name: string) => {
    const tokens = new AgentTokens(new KubeTokenMinter(core, { namespace, name }), {
      expirationSeconds: 600,
      renewBeforeMs: 120_000,
    });
    return (node: string) => tokens.tokenFor(node);
  };
  return {
    namespace,
    allowedSa: `system:serviceaccount:${namespace}:worker`,
    workerToken: perNode('worker'),
    strangerToken: perNode('stranger'),
    wrongAudienceToken: await token('worker', 'some-other-service'),
    sharedAudienceToken: await token('worker', AGENT_TOKEN_AUDIENCE),
    cleanup: async () => {
      await core.deleteNamespace({ name: namespace }).catch(() => {});
    },
  };
}

/** What GET /v1/local/containers/:ns/:pod/:container answers. */
export interface ContainerStatus {
  status: string;
  progress?: string;
}

/**
 * One describe block's agents with what they need: identities, a bucket,
 * and the containers started through it; `close()` removes all of them.
 */
export class AgentBed {
  readonly s3 = s3Client();
  ids!: Identities;
  bucket!: string;
  private readonly agents: AgentProcess[] = [];
  private readonly started: { agent: AgentProcess; pod: string; container: string }[] = [];

  async setUp(): Promise<void> {
    this.ids = await createIdentities();
    this.bucket = await createBucket(this.s3);
  }

  /** An agent for a node named `<prefix>-<random>`. */
  async startAgent(prefix: string, env: Record<string, string> = {}): Promise<AgentProcess> {
    const agent = await startAgentProcess(`${prefix}-${randomUUID().slice(0, 6)}`, this.ids.allowedSa, env);
    this.agents.push(agent);
    return agent;
  }

  /** Starts the counter workload (`mib` of patterned memory) as a container of `pod`; returns the pod's uid. */
  async startCounter(
    agent: AgentProcess,
    pod: string,
    o: { container: string; mib: number; memoryMiB: number },
  ): Promise<string> {
    const podUid = randomUUID();
    const res = await call(agent, 'POST', '/v1/local/containers', this.ids.workerToken, {
      namespace: this.ids.namespace,
      pod,
      podUid,
      container: o.container,
      args: ['/usr/local/bin/counter', String(o.mib), '/state/progress'],
      memoryMiB: o.memoryMiB,
    });
    if (res.status !== 201)
      throw new Error(`container not started: ${res.status} ${JSON.stringify(res.body)}`);
    this.track(agent, pod, o.container);
    return podUid;
  }

  /** A container made some other way (a restore): removed at close too. */
  track(agent: AgentProcess, pod: string, container: string): void {
    this.started.push({ agent, pod, container });
  }

  status(agent: AgentProcess, pod: string, container: string): Promise<CallResult<ContainerStatus>> {
    return call<ContainerStatus>(
      agent,
      'GET',
      `/v1/local/containers/${this.ids.namespace}/${pod}/${container}`,
      this.ids.workerToken,
    );
  }

  /** The container's last published progress line, parsed, and its status. */
  async progress(agent: AgentProcess, pod: string, container: string) {
    const s = await this.status(agent, pod, container);
    return s.body.progress ? { values: parseProgress(s.body.progress), status: s.body.status } : undefined;
  }

  /** Waits until the container has swept its memory at least once. */
  async waitSwept(agent: AgentProcess, pod: string, container: string): Promise<void> {
    await waitFor(
      `${pod} running`,
      async () => ((await this.progress(agent, pod, container))?.values['sweeps'] ?? 0) >= 1,
    );
  }

  /** A POST /v1/checkpoints body for one container, archived under `local/<ns>/<pod>/<uid>/<id>`. */
  checkpointRequest(
    pod: string,
    podUid: string,
    o: { container: string; checkpointId: string; deadlineMs: number },
  ) {
    return {
      namespace: this.ids.namespace,
      pod,
      podUid,
      containers: [o.container],
      checkpointId: o.checkpointId,
      deadline: new Date(Date.now() + o.deadlineMs).toISOString(),
      s3: { bucket: this.bucket, prefix: `local/${this.ids.namespace}/${pod}/${podUid}/${o.checkpointId}` },
    };
  }

  async close(): Promise<void> {
    for (const s of this.started) {
      await call(
        s.agent,
        'DELETE',
        `/v1/local/containers/${this.ids.namespace}/${s.pod}/${s.container}`,
        this.ids.workerToken,
      ).catch(() => {});
    }
    await Promise.all(this.agents.map((a) => a.stop()));
    if (this.bucket) await deleteBucket(this.s3, this.bucket);
    await this.ids?.cleanup();
  }
}
