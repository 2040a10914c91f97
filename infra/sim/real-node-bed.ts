/**
 * Simulation only. The production path on the stack's real nodes
 * (infra/lib/real-nodes.sh): kubelet 1.34 + containerd 2.2.4 + runc 1.3.5 +
 * CRIU 4.2, beside kwok's simulated nodes. Agents run as host processes with
 * the kubelet runtime, one per real node, each with its own token allowed
 * `create nodes/checkpoint`, its node's kubelet URL, containerd socket and
 * configuration. Used by `scripts/demo --real-nodes`, the real-node e2e tests
 * and the kubelet-vs-runc benchmark.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { DeleteBucketCommand, DeleteObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import {
  AppsV1Api,
  RbacAuthorizationV1Api,
  type V1Container,
  type V1Pod,
  type V1PodSpec,
} from '@kubernetes/client-node';
import { parseProgress } from '../../services/agent/runtimes/runc/local-containers.js';
import { MIGRATE_ANNOTATION } from '../../services/common/labels.js';
import { callAgent } from './agent-call.js';
import { ensureBucket } from './aws-resources.js';
import { type HeldLock, holdFileLock, type LockMode } from './file-lock.js';
import { type AgentHandle, startLocalAgent } from './local-agent.js';
import { type RealNode, realNodes } from './real-nodes-env.js';
import { localStackClients } from './stack-clients.js';
import { waitFor } from './wait-for.js';
import { createWorkerIdentity, type WorkerIdentity } from './worker-identity.js';

/** The counter workload (infra/workload/counter.c): `mib` of memory, its progress in /state/progress every 100 ms. */
export const counterCommand = (mib: number): string[] => [
  '/usr/local/bin/counter',
  String(mib),
  '/state/progress',
  '100',
];

export const run = promisify(execFile);

/** A name no other run uses, for namespaces, buckets, roles and queue prefixes. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}`;
}

/** The agent's least privilege as the chart grants it (charts/spot-rescue/templates/rbac.yaml). */
const AGENT_RULES = [
  { apiGroups: [''], resources: ['nodes/checkpoint'], verbs: ['create'] },
  { apiGroups: [''], resources: ['nodes'], verbs: ['get'] },
  { apiGroups: [''], resources: ['pods'], verbs: ['get'] },
  { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
];

export interface Progress {
  counter: number;
  corrupt: number;
  sweeps: number;
  values: Record<string, number>;
  raw: string;
}

/** One lock for the stack's two real nodes: there is one stack per machine (its ports are fixed). */
const REAL_NODES_LOCK = join(tmpdir(), 'spot-rescue-real-nodes.lock');

/**
 * A namespace, the worker's and the agent's identities, a bucket, and one
 * kubelet-runtime agent per real node; `close()` removes all of it.
 *
 * Beds share the two real nodes, so test files on them run side by side with
 * the rest of the suite. A bed that only places its own pods there and calls
 * agents (`shared`) runs beside other such beds; one that taints or drains a
 * node (`exclusive`: a listener reacting to a warning for real-a takes every
 * opted-in pod there, other beds' included) waits until it has them alone.
 */
export class RealNodeBed {
  readonly env = realNodes();
  private readonly clients = localStackClients();
  readonly kc = this.clients.kc;
  readonly core = this.clients.core;
  readonly rbac = this.kc.makeApiClient(RbacAuthorizationV1Api);
  readonly s3 = this.clients.s3;
  readonly namespace = uniqueName('real-nodes');
  /** The worker's ServiceAccount in the bed's namespace, and its per-node agent tokens. */
  worker!: WorkerIdentity;
  bucket!: string;
  dir!: string;
  private agentRole = '';
  private readonly agents: AgentHandle[] = [];
  private claim: HeldLock | undefined;

  constructor(private readonly use: LockMode = 'shared') {}

  async setUp(): Promise<void> {
    this.claim = await holdFileLock(REAL_NODES_LOCK, this.use, {
      waitSeconds: 900,
      onWait: () =>
        console.error(
          `waiting for the real nodes (${this.use}): ${this.use === 'exclusive' ? 'other beds use them' : 'a bed that taints them holds them'}`,
        ),
    });
    await this.core.createNamespace({ body: { metadata: { name: this.namespace } } });
    this.worker = await createWorkerIdentity(this.kc, this.namespace);
    this.bucket = uniqueName('real-nodes');
    await ensureBucket(this.s3, this.bucket);
    this.dir = await mkdtemp(join(tmpdir(), 'real-nodes-'));
    this.agentRole = uniqueName('spot-rescue-agent');
    await this.core.createNamespacedServiceAccount({
      namespace: this.namespace,
      body: { metadata: { name: 'agent' } },
    });
    await this.rbac.createClusterRole({ body: { metadata: { name: this.agentRole }, rules: AGENT_RULES } });
    await this.rbac.createClusterRoleBinding({
      body: {
        metadata: { name: this.agentRole },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: this.agentRole },
        subjects: [{ kind: 'ServiceAccount', name: 'agent', namespace: this.namespace }],
      },
    });
    const token = await this.core.createNamespacedServiceAccountToken({
      namespace: this.namespace,
      name: 'agent',
      body: { spec: { audiences: [], expirationSeconds: 3600 } },
    });
    await writeFile(join(this.dir, 'agent-token'), token.status?.token ?? '');
  }

  node(i: number): RealNode {
    return this.env.nodes[i]!;
  }

  /** A kubelet-runtime agent for a real node, as the chart runs it (its settings, its token). */
  async startAgent(node: RealNode, extra: Record<string, string> = {}): Promise<AgentHandle> {
    const stateDir = join(this.dir, `state-${node.name}-${this.agents.length}`);
    const agent = await startLocalAgent({
      node: node.name,
      instanceId: node.instanceId,
      allowedServiceAccount: this.worker.serviceAccount,
      stateDir,
      logFile: join(this.dir, `agent-${node.name}-${this.agents.length}.log`),
      env: {
        SPOT_RESCUE_AGENT_RUNTIME: 'kubelet',
        SPOT_RESCUE_LOG_LEVEL: 'info',
        SPOT_RESCUE_KUBELET_URL: node.kubeletUrl,
        SPOT_RESCUE_KUBELET_CA_FILE: this.env.ca,
        SPOT_RESCUE_KUBELET_TOKEN_FILE: join(this.dir, 'agent-token'),
        SPOT_RESCUE_KUBELET_CHECKPOINTS_DIR: node.checkpointsDir,
        SPOT_RESCUE_CGROUP_ROOT: '/sys/fs/cgroup',
        SPOT_RESCUE_CONTAINERD_SOCKET: node.containerdSocket,
        SPOT_RESCUE_CONTAINERD_CONFIG: join(dirname(node.containerdSocket), 'config.toml'),
        SPOT_RESCUE_CTR: join(this.env.runtimeBin, 'ctr'),
        // containerd's PATH on these nodes starts with the stack's CRIU 4.2.
        SPOT_RESCUE_NODE_CRIU: process.env['SPOT_RESCUE_CRIU'] ?? 'criu',
        SPOT_RESCUE_IMAGE_IMPORTER: 'auto',
        SPOT_RESCUE_AGENT_HOST_STATE_DIR: join(stateDir, 'host'),
        ...extra,
      },
    });
    this.agents.push(agent);
    return agent;
  }

  /** A Deployment (one replica, opted in) of the counter workload on `node`; returns its running pod. */
  async deployCounter(name: string, node: RealNode, mib: number, command?: string[]): Promise<V1Pod> {
    return this.deployOptedIn(
      name,
      { nodeSelector: { 'kubernetes.io/hostname': node.name } },
      { command: command ?? counterCommand(mib) },
      `${name} running on ${node.name}`,
    );
  }

  /**
   * A Deployment (one replica, opted in) of one container of the workload
   * image, scheduled as `scheduling` says; returns its first running pod.
   */
  async deployOptedIn(
    name: string,
    scheduling: Pick<V1PodSpec, 'nodeSelector' | 'affinity'>,
    container: Pick<V1Container, 'command' | 'resources'>,
    what = `${name} running`,
  ): Promise<V1Pod> {
    const apps = this.kc.makeApiClient(AppsV1Api);
    const labels = { app: name };
    await apps.createNamespacedDeployment({
      namespace: this.namespace,
      body: {
        metadata: { name },
        spec: {
          replicas: 1,
          selector: { matchLabels: labels },
          template: {
            metadata: { labels, annotations: { [MIGRATE_ANNOTATION]: 'true' } },
            spec: {
              ...scheduling,
              terminationGracePeriodSeconds: 2,
              containers: [
                { name: 'counter', image: this.env.workloadImage, imagePullPolicy: 'Never', ...container },
              ],
            },
          },
        },
      },
    });
    return waitFor(
      what,
      async () => {
        const pods = await this.core.listNamespacedPod({
          namespace: this.namespace,
          labelSelector: `app=${name}`,
        });
        return pods.items.find((p) => p.status?.containerStatuses?.[0]?.state?.running);
      },
      { timeoutMs: 90_000, intervalMs: 500 },
    );
  }

  /** A bare Pod on `node` running a checkpoint image (what the worker creates for a restore). */
  async runRestored(name: string, node: RealNode, image: string, command: string[]): Promise<V1Pod> {
    await this.core.createNamespacedPod({
      namespace: this.namespace,
      body: {
        metadata: { name },
        spec: {
          nodeSelector: { 'kubernetes.io/hostname': node.name },
          terminationGracePeriodSeconds: 2,
          containers: [{ name: 'counter', image, imagePullPolicy: 'Never', command }],
        },
      },
    });
    // A container that failed ends the wait at once (waitFor takes a throwing probe for "not yet").
    const seen = await waitFor(
      `${name} running on ${node.name}`,
      async () => {
        const p = await this.core.readNamespacedPod({ namespace: this.namespace, name });
        const s = p.status?.containerStatuses?.[0];
        if (s?.state?.terminated || (s?.state?.waiting?.reason ?? '').includes('Err'))
          return { failed: s?.state };
        return s?.state?.running ? { running: p } : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 500 },
    );
    if ('failed' in seen) throw new Error(`${name}: ${JSON.stringify(seen.failed)}`);
    return seen.running;
  }

  /** The pid of a pod's container, from containerd (crictl inspect on its node). */
  async pidOf(node: RealNode, pod: V1Pod): Promise<number> {
    const id = (pod.status?.containerStatuses?.[0]?.containerID ?? '').replace(/^containerd:\/\//, '');
    const { stdout } = await run(join(this.env.runtimeBin, 'crictl'), [
      ...['--runtime-endpoint', `unix://${node.containerdSocket}`, 'inspect', id],
    ]);
    const pid = (JSON.parse(stdout) as { info?: { pid?: number } }).info?.pid;
    if (!pid) throw new Error(`no pid for ${id} on ${node.name}`);
    return pid;
  }

  /** The workload's progress line, read from its root filesystem (works on a frozen process too). */
  async progress(pid: number, file = '/state/progress'): Promise<Progress> {
    const raw = (await readFile(`/proc/${pid}/root${file}`, 'utf8')).trim();
    const values = parseProgress(raw);
    return {
      counter: values['counter'] ?? -1,
      corrupt: values['corrupt'] ?? -1,
      sweeps: values['sweeps'] ?? -1,
      values,
      raw,
    };
  }

  /** Calls the agent as the worker does, with the worker's token for the agent's node. */
  async callAgent<T = Record<string, unknown>>(
    agent: AgentHandle,
    method: string,
    path: string,
    body?: unknown,
  ) {
    return callAgent<T>(agent.url, await this.worker.tokenFor(agent.node), method, path, body);
  }

  async close(): Promise<void> {
    try {
      for (const a of this.agents) await a.stop().catch(() => {});
      await this.core.deleteNamespace({ name: this.namespace }).catch(() => {});
      await waitFor(
        'the namespace to be gone',
        () =>
          this.core.readNamespace({ name: this.namespace }).then(
            () => undefined,
            () => true,
          ),
        { timeoutMs: 60_000, intervalMs: 500 },
      ).catch(() => {});
      await this.rbac.deleteClusterRoleBinding({ name: this.agentRole }).catch(() => {});
      await this.rbac.deleteClusterRole({ name: this.agentRole }).catch(() => {});
      if (this.bucket) await deleteBucket(this.s3, this.bucket).catch(() => {});
      if (this.dir && !process.env['SPOT_RESCUE_KEEP_TEST_DIR'])
        await rm(this.dir, { recursive: true, force: true });
    } finally {
      // Only once its pods are gone: the next bed may taint or drain the nodes.
      await this.claim?.release();
    }
  }
}

async function deleteBucket(s3: RealNodeBed['s3'], bucket: string): Promise<void> {
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket })).catch(() => undefined);
  for (const o of listed?.Contents ?? [])
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: o.Key as string }));
  await s3.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => {});
}
