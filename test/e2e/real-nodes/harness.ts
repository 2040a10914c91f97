/**
 * The production path on the stack's real nodes (infra/lib/real-nodes.sh):
 * kubelet 1.34 + containerd 2.2.4 + runc 1.3.5 + CRIU 4.2, beside kwok's
 * simulated nodes. Agents run as host processes with the kubelet runtime,
 * one per real node, each with its own token allowed `create nodes/checkpoint`,
 * its node's kubelet URL, containerd socket and configuration.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { CoreV1Api, RbacAuthorizationV1Api, type V1Pod } from '@kubernetes/client-node';
import { type AgentHandle, startLocalAgent } from '../../../infra/sim/local-rescue.js';
import { parseProgress } from '../../../services/agent/runtimes/runc/local-containers.js';
import { loadKubeConfig } from '../../../services/common/kube.js';
import { call, createIdentities, type Identities } from '../../support/agent-bed.js';
import { createBucket, deleteBucket, s3Client } from '../../support/buckets.js';
import { stackEnv, uniqueName, waitFor } from '../../support/stack.js';

export const run = promisify(execFile);

import { type RealNode, type RealNodesEnv, realNodes } from '../../support/real-nodes.js';

export { type RealNode, type RealNodesEnv, realNodes };

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

/**
 * A namespace, the worker's and the agent's identities, a bucket, and one
 * kubelet-runtime agent per real node; `close()` removes all of it.
 */
export class RealNodeBed {
  readonly env = realNodes();
  readonly kc = loadKubeConfig(stackEnv().kubeconfig);
  readonly core = this.kc.makeApiClient(CoreV1Api);
  readonly rbac = this.kc.makeApiClient(RbacAuthorizationV1Api);
  readonly s3 = s3Client();
  ids!: Identities;
  bucket!: string;
  dir!: string;
  private agentRole = '';
  private readonly agents: AgentHandle[] = [];

  get namespace(): string {
    return this.ids.namespace;
  }

  async setUp(): Promise<void> {
    this.ids = await createIdentities();
    this.bucket = await createBucket(this.s3);
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
      allowedServiceAccount: this.ids.allowedSa,
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
        SPOT_RESCUE_NODE_CRIU: stackEnv().criu,
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
    const { AppsV1Api } = await import('@kubernetes/client-node');
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
            metadata: { labels, annotations: { 'spot-rescue.io/migrate': 'true' } },
            spec: {
              nodeSelector: { 'kubernetes.io/hostname': node.name },
              terminationGracePeriodSeconds: 2,
              containers: [
                {
                  name: 'counter',
                  image: this.env.workloadImage,
                  imagePullPolicy: 'Never',
                  command: command ?? ['/usr/local/bin/counter', String(mib), '/state/progress', '100'],
                },
              ],
            },
          },
        },
      },
    });
    return waitFor(
      `${name} running on ${node.name}`,
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
    return waitFor(
      `${name} running on ${node.name}`,
      async () => {
        const p = await this.core.readNamespacedPod({ namespace: this.namespace, name });
        const s = p.status?.containerStatuses?.[0];
        if (s?.state?.terminated || (s?.state?.waiting?.reason ?? '').includes('Err'))
          throw new Error(`${name}: ${JSON.stringify(s?.state)}`);
        return s?.state?.running ? p : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 500 },
    );
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

  /** POST to the agent as the worker does. */
  callAgent<T = Record<string, unknown>>(agent: AgentHandle, method: string, path: string, body?: unknown) {
    return call<T>(agent, method, path, this.ids.workerToken, body);
  }

  async close(): Promise<void> {
    for (const a of this.agents) await a.stop().catch(() => {});
    await this.ids?.cleanup();
    await waitFor(
      'the test namespace to be gone',
      async () =>
        !(await this.core.readNamespace({ name: this.namespace }).then(
          () => true,
          () => false,
        )),
      { timeoutMs: 60_000, intervalMs: 500 },
    ).catch(() => {});
    await this.rbac.deleteClusterRoleBinding({ name: this.agentRole }).catch(() => {});
    await this.rbac.deleteClusterRole({ name: this.agentRole }).catch(() => {});
    await deleteBucket(this.s3, this.bucket).catch(() => {});
    if (this.dir && !process.env['SPOT_RESCUE_KEEP_TEST_DIR'])
      await rm(this.dir, { recursive: true, force: true });
  }
}
