import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  ListObjectsV2Command,
  type S3Client,
} from '@aws-sdk/client-s3';
import {
  AppsV1Api,
  BatchV1Api,
  CoreV1Api,
  type KubeConfig,
  PatchStrategy,
  PolicyV1Api,
  setHeaderOptions,
  type V1Pod,
} from '@kubernetes/client-node';
import { Queue } from 'bullmq';
import { type AgentHandle, startLocalAgent } from '../../../infra/sim/local-rescue.js';
import { AGENT_TOKEN_AUDIENCE } from '../../../services/common/agent-api.js';
import { createS3Client } from '../../../services/common/aws.js';
import { readConfig } from '../../../services/common/config.js';
import type { EventRef } from '../../../services/common/events.js';
import { JOB_NAMES, jobId, QUEUES } from '../../../services/common/jobs.js';
import { loadKubeConfig } from '../../../services/common/kube.js';
import {
  NAMESPACE_OPT_IN_LABEL,
  NAMESPACE_OPT_IN_VALUE,
  TAINT_KEY,
} from '../../../services/common/labels.js';
import { createLogger } from '../../../services/common/logger.js';
import { createMetricsRegistry } from '../../../services/common/metrics.js';
import { createRedisConnection } from '../../../services/common/redis.js';
import {
  allWorkerSettings,
  type FullWorkerConfig,
  startWorkerService,
  type WorkerOverrides,
  type WorkerService,
} from '../../../services/worker/service.js';
import { awsSettings, stackEnv, uniqueName, waitFor } from '../../support/stack.js';

export const SIM_LABEL = 'spot-rescue.io/worker-test';

export interface Kube {
  kc: KubeConfig;
  core: CoreV1Api;
  apps: AppsV1Api;
  batch: BatchV1Api;
  policy: PolicyV1Api;
}

export function kube(): Kube {
  const kc = loadKubeConfig(stackEnv().kubeconfig);
  return {
    kc,
    core: kc.makeApiClient(CoreV1Api),
    apps: kc.makeApiClient(AppsV1Api),
    batch: kc.makeApiClient(BatchV1Api),
    policy: kc.makeApiClient(PolicyV1Api),
  };
}

export interface NodeSpec {
  name: string;
  zone?: string;
  capacityType?: 'spot' | 'on-demand';
  instanceType?: string;
  cpu?: string;
  memory?: string;
  unschedulable?: boolean;
}

/** A kwok Node labelled like an EKS node, plus the test's own label that pods select. */
export async function createNode(k: Kube, sim: string, n: NodeSpec): Promise<void> {
  const zone = n.zone ?? 'us-east-1a';
  const type = n.instanceType ?? 'm5.xlarge';
  await k.core.createNode({
    body: {
      metadata: {
        name: n.name,
        labels: {
          'kubernetes.io/hostname': n.name,
          'kubernetes.io/os': 'linux',
          'kubernetes.io/arch': 'amd64',
          'topology.kubernetes.io/zone': zone,
          'node.kubernetes.io/instance-type': type,
          'eks.amazonaws.com/capacityType': n.capacityType === 'on-demand' ? 'ON_DEMAND' : 'SPOT',
          type: 'kwok',
          [SIM_LABEL]: sim,
        },
        annotations: { 'kwok.x-k8s.io/node': 'fake' },
      },
      spec: {
        providerID: `aws:///${zone}/i-${Math.random().toString(16).slice(2, 14).padEnd(12, '0')}`,
        unschedulable: n.unschedulable ?? false,
      },
      status: {
        capacity: { cpu: n.cpu ?? '4', memory: n.memory ?? '16Gi', pods: '110' },
        allocatable: { cpu: n.cpu ?? '4', memory: n.memory ?? '16Gi', pods: '110' },
      },
    },
  });
}

export async function waitNodeReady(k: Kube, name: string): Promise<void> {
  await waitFor(`node ${name} Ready`, async () => {
    const n = await k.core.readNode({ name });
    return (n.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
  });
}

/** What the listener does to a doomed node: taint and cordon. */
export async function markInterrupted(k: Kube, name: string): Promise<void> {
  const n = await k.core.readNode({ name });
  const taints = [
    ...(n.spec?.taints ?? []),
    { key: TAINT_KEY, value: 'spot-interruption', effect: 'NoSchedule' },
  ];
  await k.core.patchNode({ name, body: { spec: { unschedulable: true, taints } } }, mergePatch);
}

export async function setSchedulable(k: Kube, name: string, schedulable: boolean): Promise<void> {
  await k.core.patchNode({ name, body: { spec: { unschedulable: !schedulable } } }, mergePatch);
}

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export async function createOptedInNamespace(k: Kube, name: string): Promise<void> {
  await k.core.createNamespace({
    body: { metadata: { name, labels: { [NAMESPACE_OPT_IN_LABEL]: NAMESPACE_OPT_IN_VALUE } } },
  });
}

export async function podsOf(k: Kube, namespace: string, labelSelector?: string): Promise<V1Pod[]> {
  const list = await k.core.listNamespacedPod({ namespace, ...(labelSelector ? { labelSelector } : {}) });
  return list.items.filter((p) => !p.metadata?.deletionTimestamp);
}

export const isReady = (p: V1Pod) =>
  p.status?.phase === 'Running' &&
  (p.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');

/** The worker's identity: a ServiceAccount and a token minted for the agents' audience, in a file. */
export interface WorkerIdentity {
  serviceAccount: string;
  token: string;
  tokenFile: string;
  dir: string;
}

export async function createWorkerIdentity(k: Kube, namespace: string): Promise<WorkerIdentity> {
  await k.core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'worker' } } });
  const r = await k.core.createNamespacedServiceAccountToken({
    name: 'worker',
    namespace,
    body: { spec: { audiences: [AGENT_TOKEN_AUDIENCE], expirationSeconds: 3600 } },
  });
  const dir = await mkdtemp(join(tmpdir(), 'worker-test-'));
  const tokenFile = join(dir, 'token');
  await writeFile(tokenFile, r.status?.token ?? '');
  return {
    serviceAccount: `system:serviceaccount:${namespace}:worker`,
    token: r.status?.token ?? '',
    tokenFile,
    dir,
  };
}

/** A real agent process (runc runtime) serving one simulated node. */
export type AgentProcess = AgentHandle;

export function startAgent(node: string, allowedSa: string): Promise<AgentProcess> {
  return startLocalAgent({ node, allowedServiceAccount: allowedSa, stateDir: stackEnv().stateDir });
}

export async function agentCall<T = Record<string, unknown>>(
  agent: { url: string },
  method: string,
  path: string,
  token: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  const res = await fetch(`${agent.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

/** Starts the pod's workload as a real runc process on the node's agent (the kubelet's part, locally). */
export async function startCounter(agent: AgentProcess, token: string, pod: V1Pod, mib = 8): Promise<void> {
  const r = await agentCall(agent, 'POST', '/v1/local/containers', token, {
    namespace: pod.metadata?.namespace,
    pod: pod.metadata?.name,
    podUid: pod.metadata?.uid,
    container: pod.spec?.containers[0]?.name,
    args: ['/usr/local/bin/counter', String(mib), '/state/progress'],
  });
  if (r.status !== 201) throw new Error(`could not start counter: ${r.status} ${JSON.stringify(r.body)}`);
}

export function parseProgress(line: string): Record<string, number> {
  return Object.fromEntries(
    line
      .trim()
      .split(/\s+/)
      .map((kv) => kv.split('='))
      .map(([k, v]) => [k ?? '', Number(v)]),
  );
}

export async function counterOf(
  agent: AgentProcess,
  token: string,
  namespace: string,
  pod: string,
  container = 'counter',
): Promise<{ status: string; progress?: Record<string, number> } | null> {
  const r = await agentCall<{ status: string; progress?: string }>(
    agent,
    'GET',
    `/v1/local/containers/${namespace}/${pod}/${container}`,
    token,
  );
  if (r.status !== 200) return null;
  return { status: r.body.status, ...(r.body.progress ? { progress: parseProgress(r.body.progress) } : {}) };
}

export async function removeCounter(agent: AgentProcess, token: string, namespace: string, pod: string) {
  await agentCall(agent, 'DELETE', `/v1/local/containers/${namespace}/${pod}/counter`, token).catch(() => {});
}

export function s3(): S3Client {
  return createS3Client(awsSettings());
}

export async function createBucket(client: S3Client, name: string): Promise<void> {
  await client.send(new CreateBucketCommand({ Bucket: name }));
}

export async function deleteBucket(client: S3Client, bucket: string): Promise<void> {
  for (;;) {
    const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket })).catch(() => undefined);
    const items = listed?.Contents ?? [];
    for (const o of items) await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: o.Key! }));
    if (!listed?.IsTruncated) break;
  }
  await client.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => {});
}

/** Worker settings for a test: its own BullMQ prefix and bucket, short locks, static agent map. */
export function workerEnv(o: {
  prefix: string;
  bucket: string;
  tokenFile: string;
  agents: Record<string, string>;
  extra?: Record<string, string>;
}): Record<string, string> {
  const s = stackEnv();
  return {
    SPOT_RESCUE_REDIS_URL: s.redisUrl,
    SPOT_RESCUE_AWS_ENDPOINT: s.awsEndpoint,
    AWS_REGION: s.awsRegion,
    KUBECONFIG: s.kubeconfig,
    SPOT_RESCUE_QUEUE_PREFIX: o.prefix,
    SPOT_RESCUE_S3_BUCKET: o.bucket,
    SPOT_RESCUE_AGENT_LOCATOR: 'static',
    SPOT_RESCUE_AGENT_ENDPOINTS: Object.entries(o.agents)
      .map(([n, u]) => `${n}=${u}`)
      .join(','),
    SPOT_RESCUE_AGENT_TOKEN_FILE: o.tokenFile,
    SPOT_RESCUE_WORKER_LOCK_MS: '4000',
    SPOT_RESCUE_LOG_LEVEL: 'warn',
    SPOT_RESCUE_OPS_PORT: '0',
    SPOT_RESCUE_OPS_HOST: '127.0.0.1',
    ...o.extra,
  };
}

export async function startInProcessWorker(
  env: Record<string, string>,
  overrides: WorkerOverrides = {},
): Promise<WorkerService> {
  const config = readConfig(allWorkerSettings, env) as FullWorkerConfig;
  return startWorkerService(config, {
    log: createLogger('worker', env['SPOT_RESCUE_LOG_LEVEL'] ?? 'warn'),
    registry: createMetricsRegistry('worker', false),
    ...overrides,
  });
}

/** `spot-rescue worker` as a child process (to be killed). */
export function spawnWorker(env: Record<string, string>): { child: ChildProcess; logs: string[] } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'services/cli/main.ts', 'worker'], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  child.stdout?.on('data', (d: Buffer) => logs.push(d.toString()));
  child.stderr?.on('data', (d: Buffer) => logs.push(d.toString()));
  return { child, logs };
}

export function eventRef(deadlineInMs: number, extra: Partial<EventRef> = {}): EventRef {
  const now = Date.now();
  return {
    id: uniqueName('evt'),
    kind: 'spot-interruption',
    deadline: new Date(now + deadlineInMs).toISOString(),
    receivedAt: new Date(now).toISOString(),
    eventTime: new Date(now).toISOString(),
    ...extra,
  };
}

/** Queues as the listener fills them, for a test's prefix. */
export class TestQueues {
  readonly connection = createRedisConnection(stackEnv().redisUrl);
  readonly rescue: Queue;
  readonly evict: Queue;
  readonly provision: Queue;
  readonly finalize: Queue;

  constructor(readonly prefix: string) {
    const o = { connection: this.connection, prefix };
    this.rescue = new Queue(QUEUES.rescue, o);
    this.evict = new Queue(QUEUES.evict, o);
    this.provision = new Queue(QUEUES.provision, o);
    this.finalize = new Queue(QUEUES.finalize, o);
  }

  async migrate(event: EventRef, node: { name: string; instanceId: string }, pod: V1Pod) {
    const uid = pod.metadata?.uid ?? '';
    return this.rescue.add(
      JOB_NAMES.migratePod,
      {
        event,
        node,
        pod: { namespace: pod.metadata?.namespace, name: pod.metadata?.name, uid },
        deadline: event.deadline,
      },
      { jobId: jobId('migrate', event.id, uid), attempts: 3, backoff: { type: 'fixed', delay: 500 } },
    );
  }

  async evictJob(event: EventRef, node: { name: string; instanceId: string }, pod: V1Pod) {
    const uid = pod.metadata?.uid ?? '';
    return this.evict.add(
      JOB_NAMES.evictPod,
      {
        event,
        node,
        pod: { namespace: pod.metadata?.namespace, name: pod.metadata?.name, uid },
        deadline: event.deadline,
      },
      { jobId: jobId('evict', event.id, uid), attempts: 3 },
    );
  }

  async close() {
    for (const q of [this.rescue, this.evict, this.provision, this.finalize]) {
      await q.obliterate({ force: true }).catch(() => {});
      await q.close();
    }
    await this.connection.quit();
  }
}

/** Waits until every job is completed; on timeout the error tells each job's state, progress and failure. */
export async function waitJobsDone(q: Queue, ids: string[], timeoutMs = 90_000): Promise<unknown[]> {
  let seen = '';
  return waitFor(
    `jobs ${ids.join(', ')} to complete`,
    async () => {
      const out: unknown[] = [];
      const states: string[] = [];
      for (const id of ids) {
        const job = await q.getJob(id);
        if (!job) throw new Error(`job ${id} vanished`);
        const state = await job.getState();
        states.push(
          `${id.slice(-8)}:${state}:${JSON.stringify(job.progress).slice(0, 60)}:${job.failedReason ?? ''}`,
        );
        out.push(job.returnvalue);
      }
      seen = states.join(' | ');
      return states.every((s) => s.includes(':completed:')) ? out : undefined;
    },
    { timeoutMs, intervalMs: 300 },
  ).catch((err: Error) => {
    throw new Error(`${err.message}: ${seen}`);
  });
}

export async function cleanupDir(dir: string) {
  await rm(dir, { recursive: true, force: true });
}

export { stackEnv, uniqueName, waitFor };
