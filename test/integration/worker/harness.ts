import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type _InstanceType,
  CreateLaunchTemplateCommand,
  DeleteLaunchTemplateCommand,
  DescribeImagesCommand,
  DescribeSubnetsCommand,
  type EC2Client,
} from '@aws-sdk/client-ec2';
import {
  AppsV1Api,
  BatchV1Api,
  CoreV1Api,
  type KubeConfig,
  PatchStrategy,
  PolicyV1Api,
  setHeaderOptions,
  type V1Container,
  type V1Pod,
  type V1PodSpec,
  type V1StatefulSetSpec,
} from '@kubernetes/client-node';
import { type Job, Queue } from 'bullmq';
import { callAgent } from '../../../infra/sim/agent-call.js';
import { ensureBucket } from '../../../infra/sim/aws-resources.js';
import { kwokNode } from '../../../infra/sim/kwok-node.js';
import { type AgentHandle, startLocalAgent } from '../../../infra/sim/local-agent.js';
import { removeSimNodeState } from '../../../infra/sim/sim-node-state.js';
import { createWorkerIdentity, type WorkerIdentity } from '../../../infra/sim/worker-identity.js';
import {
  deploymentManifest,
  jobManifest,
  podManifest,
  statefulSetManifest,
} from '../../../infra/sim/workload-manifests.js';
import { parseProgress } from '../../../services/agent/runtimes/runc/local-containers.js';
import { AGENT_TOKEN_AUDIENCE } from '../../../services/common/agent-api.js';
import { readConfig } from '../../../services/common/config.js';
import { type EventRef, eventRefSchema } from '../../../services/common/events.js';
import { loadJobSigner, newJobSigningKeyFile } from '../../../services/common/job-signing-key.js';
import { QUEUES } from '../../../services/common/jobs.js';
import { loadKubeConfig } from '../../../services/common/kube.js';
import {
  NAMESPACE_OPT_IN_LABEL,
  NAMESPACE_OPT_IN_VALUE,
  RESTORED_FROM_ANNOTATION,
} from '../../../services/common/labels.js';
import { createLogger } from '../../../services/common/logger.js';
import { createMetricsRegistry } from '../../../services/common/metrics.js';
import { createRedisConnection, type Redis } from '../../../services/common/redis.js';
import { BullJobSink } from '../../../services/listener/enqueue.js';
import { KubeNodeTainter } from '../../../services/listener/node-taint.js';
import { type NodeRef, type PlannedJob, type PodPlan, planNode } from '../../../services/listener/plan.js';
import type { Cluster } from '../../../services/worker/cluster.js';
import type { MigrateResult } from '../../../services/worker/migrate.js';
import { nodeView } from '../../../services/worker/node-view.js';
import { isRunning } from '../../../services/worker/restored-pod.js';
import {
  allWorkerSettings,
  type FullWorkerConfig,
  startWorkerService,
  type WorkerOverrides,
  type WorkerService,
} from '../../../services/worker/service.js';
import { deleteBucket, s3Client } from '../../support/buckets.js';
import { signalAndWait } from '../../support/child-server.js';
import { forward } from '../../support/http-forward.js';
import { stackEnv, uniqueName, waitFor } from '../../support/stack.js';

/**
 * The worker's integration test bed: an opted-in namespace, the worker's
 * identity (ServiceAccount + agent-audience token), a bucket, simulated
 * nodes with a real agent each, the BullMQ queues as the listener fills
 * them and an in-process (or spawned) worker; `close()` removes all of it.
 */

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
  /** The EC2 instance behind the node (its providerID); default a made-up id. */
  instanceId?: string;
}

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** The pod runs with its containers ready: the worker's own test of a restored copy. */
export const isReady: (p: V1Pod) => boolean = isRunning;

/** The container every test pod runs: the counter workload, small requests. */
export function counterContainer(resources: V1Container['resources'] = {}): V1Container {
  return {
    name: 'counter',
    image: 'spot-rescue/counter',
    resources: { requests: { cpu: '100m' }, ...resources },
  };
}

/** A classified interruption as the listener puts it in every job (held to the jobs' schema). */
export function eventRef(deadlineInMs: number, extra: Partial<EventRef> = {}): EventRef {
  const now = Date.now();
  return eventRefSchema.parse({
    id: uniqueName('evt'),
    kind: 'spot-interruption',
    deadline: new Date(now + deadlineInMs).toISOString(),
    receivedAt: new Date(now).toISOString(),
    eventTime: new Date(now).toISOString(),
    ...extra,
  });
}

/**
 * The listener's plan for `pods` of one doomed node, by its own planner, as
 * it plans them while their namespace is opted in (`optedIn: false`: as a
 * namespace that is not). Tests that opt a namespace out afterwards check
 * the worker's own re-check at job start.
 */
export function listenerPlan(
  event: EventRef,
  node: NodeRef,
  pods: V1Pod[],
  o: { optedIn?: boolean; unoptedPods?: 'evict' | 'ignore' } = {},
): PodPlan {
  const labels: Record<string, string> =
    o.optedIn === false ? {} : { [NAMESPACE_OPT_IN_LABEL]: NAMESPACE_OPT_IN_VALUE };
  return planNode({
    event,
    node,
    pods,
    namespaceLabels: () => labels,
    unoptedPods: o.unoptedPods ?? 'ignore',
    podDeadline: event.deadline ?? new Date(Date.now() + 120_000).toISOString(),
  });
}

/** The plan's one job of `queue`; the error says why the planner made none. */
export function plannedJob(plan: PodPlan, queue: PlannedJob['queue']): PlannedJob {
  const jobs = plan.jobs.filter((j) => j.queue === queue);
  if (jobs.length !== 1)
    throw new Error(
      `the listener planned ${jobs.length} ${queue} jobs: skipped ${JSON.stringify(plan.skipped)}`,
    );
  return jobs[0]!;
}

/** One key per test process: the listener's sink signs with it and every worker started here verifies with it. */
export const jobSigningKeyFile = newJobSigningKeyFile();
export const jobSigner = loadJobSigner(jobSigningKeyFile);

/** Queues as the listener fills them, for a test's prefix. */
export class TestQueues {
  readonly connection: Redis;
  readonly rescue: Queue;
  readonly evict: Queue;
  readonly provision: Queue;
  readonly finalize: Queue;
  /** The listener's own sink: jobs get the production ids, attempts and backoff. */
  readonly sink: BullJobSink;

  /** On the stack's Redis unless a test brings another (its Redis Cluster, with a {hash-tagged} prefix). */
  constructor(
    readonly prefix: string,
    redisUrl = stackEnv().redisUrl,
  ) {
    this.connection = createRedisConnection(redisUrl);
    const o = { connection: this.connection, prefix };
    this.sink = new BullJobSink(this.connection, prefix, jobSigner);
    this.rescue = new Queue(QUEUES.rescue, o);
    this.evict = new Queue(QUEUES.evict, o);
    this.provision = new Queue(QUEUES.provision, o);
    this.finalize = new Queue(QUEUES.finalize, o);
  }

  /** A migrate-pod job, planned and enqueued by the listener's code for an opted-in pod. */
  migrate(event: EventRef, node: NodeRef, pod: V1Pod): Promise<Job> {
    return this.enqueue(plannedJob(listenerPlan(event, node, [pod]), QUEUES.rescue));
  }

  /** The node's finalize-node job, planned (waiting for `pods` to leave) and enqueued by the listener's code. */
  finalizeNode(event: EventRef, node: NodeRef, pods: V1Pod[]): Promise<Job> {
    return this.enqueue(plannedJob(listenerPlan(event, node, pods), QUEUES.finalize));
  }

  /** Through the listener's sink (signed, production options); answers the job as BullMQ holds it. */
  private async enqueue(job: PlannedJob): Promise<Job> {
    await this.sink.enqueue([job]);
    const added = await this.queueOf({ queueName: job.queue, id: job.jobId }).getJob(job.jobId);
    if (!added) throw new Error(`job ${job.jobId} is not in the ${job.queue} queue after enqueue`);
    return added;
  }

  /** Waits until these jobs (of one queue) complete and returns their results in order; see waitJobsDone. */
  async results<T = MigrateResult>(jobs: Job[], timeoutMs = 90_000): Promise<T[]> {
    const queue = this.queueOf(jobs[0]!);
    return (await waitJobsDone(
      queue,
      jobs.map((j) => j.id!),
      timeoutMs,
    )) as T[];
  }

  /** Waits until the job completes and returns its result (a migrate-pod job's MigrateResult by default). */
  async result<T = MigrateResult>(job: Job, timeoutMs = 90_000): Promise<T> {
    const [result] = await this.results<T>([job], timeoutMs);
    return result as T;
  }

  /** Waits until the job fails and returns why; the wait's error names a job that completed instead. */
  async failure(job: Job, timeoutMs = 60_000): Promise<string> {
    const queue = this.queueOf(job);
    return waitFor(
      `job ${job.id} to fail`,
      async () => {
        const state = await queue.getJobState(job.id!);
        if (state === 'completed')
          throw new Error(
            `job ${job.id} completed: ${JSON.stringify((await queue.getJob(job.id!))?.returnvalue)}`,
          );
        return state === 'failed' ? ((await queue.getJob(job.id!))?.failedReason ?? '') : undefined;
      },
      { timeoutMs },
    );
  }

  private queueOf(job: Pick<Job, 'queueName' | 'id'>): Queue {
    const queue = [this.rescue, this.evict, this.provision, this.finalize].find(
      (q) => q.name === job.queueName,
    );
    if (!queue) throw new Error(`job ${job.id} is of no queue of this bed (${job.queueName})`);
    return queue;
  }

  async close() {
    for (const q of [this.rescue, this.evict, this.provision, this.finalize]) {
      await q.obliterate({ force: true }).catch(() => {});
      await q.close();
    }
    await this.sink.close();
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
        // The state first: a job read before it completes carries no return value yet.
        const state = await q.getJobState(id);
        const job = await q.getJob(id);
        if (!job) throw new Error(`job ${id} vanished`);
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

/** A node of the bed: named `<bed>-<suffix>`, with an agent unless `agent: false`. */
export interface BedNode extends Omit<NodeSpec, 'name'> {
  suffix: string;
  agent?: boolean;
  /** More agent settings (SPOT_RESCUE_*), e.g. a CRIU that is not there. */
  agentEnv?: Record<string, string>;
}

export interface WorkerOptions {
  /** The static agent map (node -> url); default every agent of the bed. */
  agents?: Record<string, string>;
  /** More worker settings (SPOT_RESCUE_*). */
  extra?: Record<string, string>;
  overrides?: WorkerOverrides;
}

type CounterState = { status: string; progress?: Record<string, number> };

/** `spot-rescue worker` run as a child process of the test. */
export interface SpawnedWorker {
  child: ChildProcess;
  logs: string[];
  /** The last few KiB of what it logged. */
  lastLog(): string;
  /** A crash: SIGKILL, resolved once it has exited. */
  crash(): Promise<void>;
  /** `p`, whose failure also tells the last of this worker's log. */
  explained<T>(p: Promise<T>): Promise<T>;
}

export class TestBed {
  readonly k: Kube = kube();
  readonly s3 = s3Client();
  /** The bed's unique name: its namespace, its nodes' prefix and their SIM_LABEL value. */
  readonly sim: string;
  readonly ns: string;
  readonly prefix = uniqueName('wq');
  readonly bucket = uniqueName('wbkt');
  /** Agents by node name. */
  readonly agents: Record<string, AgentHandle> = {};
  id!: WorkerIdentity;
  queues!: TestQueues;
  worker: WorkerService | undefined;
  private dir: string | undefined;
  private readonly children: ChildProcess[] = [];
  private readonly cleanups: (() => Promise<unknown>)[] = [];

  constructor(name: string) {
    this.sim = uniqueName(name);
    this.ns = this.sim;
  }

  node(suffix: string): string {
    return `${this.sim}-${suffix}`;
  }

  /** The nodeSelector that keeps the bed's pods on the bed's nodes. */
  get nodeSelector(): Record<string, string> {
    return { [SIM_LABEL]: this.sim };
  }

  podSpec(containers: V1Container[] = [counterContainer()], extra: Partial<V1PodSpec> = {}): V1PodSpec {
    return { nodeSelector: this.nodeSelector, containers, ...extra };
  }

  async setUp(o: { nodes?: BedNode[] } = {}): Promise<this> {
    await this.k.core.createNamespace({
      body: {
        metadata: { name: this.ns, labels: { [NAMESPACE_OPT_IN_LABEL]: NAMESPACE_OPT_IN_VALUE } },
      },
    });
    this.dir = await mkdtemp(join(tmpdir(), 'worker-test-'));
    this.id = await createWorkerIdentity(this.k.kc, this.ns);
    await ensureBucket(this.s3, this.bucket);
    const nodes = o.nodes ?? [];
    for (const n of nodes) await this.addNode({ ...n, name: this.node(n.suffix) });
    for (const n of nodes) await this.waitNodeReady(this.node(n.suffix));
    await Promise.all(
      nodes.filter((n) => n.agent !== false).map((n) => this.startAgent(this.node(n.suffix), n.agentEnv)),
    );
    this.queues = new TestQueues(this.prefix);
    return this;
  }

  /** A kwok Node labelled like an EKS node, plus the bed's label that its pods select. */
  async addNode(n: NodeSpec): Promise<void> {
    const zone = n.zone ?? 'us-east-1a';
    await this.k.core.createNode({
      body: kwokNode({
        name: n.name,
        labels: {
          'kubernetes.io/hostname': n.name,
          'kubernetes.io/os': 'linux',
          'kubernetes.io/arch': 'amd64',
          'topology.kubernetes.io/zone': zone,
          'node.kubernetes.io/instance-type': n.instanceType ?? 'm5.xlarge',
          'eks.amazonaws.com/capacityType': n.capacityType === 'on-demand' ? 'ON_DEMAND' : 'SPOT',
          type: 'kwok',
          ...this.nodeSelector,
        },
        instance: {
          zone,
          instanceId: n.instanceId ?? `i-${Math.random().toString(16).slice(2, 14).padEnd(12, '0')}`,
        },
        cpu: n.cpu ?? '4',
        memory: n.memory ?? '16Gi',
        unschedulable: n.unschedulable ?? false,
      }),
    });
  }

  /** Until the node is Ready as the worker's placement reads it. */
  async waitNodeReady(name: string): Promise<void> {
    await waitFor(`node ${name} Ready`, async () => nodeView(await this.k.core.readNode({ name })).ready);
  }

  /** What the listener does to a doomed node, by the listener's own tainter: taint and cordon. */
  async markInterrupted(name: string): Promise<void> {
    await new KubeNodeTainter(this.k.core).taintAndCordon(
      await this.k.core.readNode({ name }),
      'spot-interruption',
    );
  }

  async setSchedulable(name: string, schedulable: boolean): Promise<void> {
    await this.k.core.patchNode({ name, body: { spec: { unschedulable: !schedulable } } }, mergePatch);
  }

  /**
   * The common start of a one-pod rescue: a bare counting pod `solo` running
   * on `source`, its counter started, `source` interrupted and `target` open.
   */
  async soloPodToMove(source: string, target: string): Promise<V1Pod> {
    await this.createPod(
      'solo',
      this.podSpec([counterContainer({ requests: { cpu: '100m', memory: '64Mi' } })]),
    );
    const [original] = await this.podsToMove(source, 1, [target]);
    return original!;
  }

  /** A counting pod's spec that holds `hostPort` on its node, with a short grace period. */
  hostPortSpec(container: string, hostPort: number): V1PodSpec {
    return this.podSpec(
      [{ ...counterContainer(), name: container, ports: [{ containerPort: 8080, hostPort }] }],
      {
        terminationGracePeriodSeconds: 1,
      },
    );
  }

  /**
   * A pod `holder` running on `node` that holds `hostPort` there: the
   * scheduler refuses any copy of a hostPortSpec pod pinned to that node.
   */
  async holdHostPort(node: string, hostPort: number): Promise<void> {
    await this.createPod('holder', { ...this.hostPortSpec('holder', hostPort), nodeName: node });
    await this.waitPods('the port holder running', (pods) =>
      pods.some((p) => p.metadata?.name === 'holder' && isReady(p)),
    );
  }

  /**
   * The common start of a rescue: once the bed's `count` pods all run on
   * `source`, their counters are started (`counterMiB` of patterned memory
   * each), `source` is interrupted (as the listener does it) and each of
   * `targets` is opened. Answers the pods.
   */
  async podsToMove(source: string, count: number, targets: string[] = [], counterMiB = 8): Promise<V1Pod[]> {
    const pods = await this.waitPods(
      `${count} pod(s) running on ${source}`,
      (ps) => ps.length === count && ps.every((p) => isReady(p) && p.spec?.nodeName === source),
    );
    await this.startCounters(source, pods, counterMiB);
    await this.markInterrupted(source);
    for (const t of targets) await this.setSchedulable(t, true);
    return pods;
  }

  /** A real agent process (runc runtime) serving one simulated node, which need not exist yet. */
  async startAgent(node: string, env?: Record<string, string>): Promise<AgentHandle> {
    const a = await startLocalAgent({
      node,
      allowedServiceAccount: this.id.serviceAccount,
      stateDir: stackEnv().stateDir,
      ...(env ? { env } : {}),
    });
    this.agents[node] = a;
    return a;
  }

  /**
   * The agents of the nodes a provisioner will launch. Their names (EC2's
   * private DNS names) are known only once they join, and an agent accepts
   * only tokens minted for its own node; the worker's static map needs a URL
   * now. So one URL ('*' in the map) is a router: it reads the node from the
   * audience of the token each call carries, and passes the call to that
   * node's agent, started on first use for a node of this bed that has
   * joined. Reading the audience is not trusting it: the agent reviews the
   * token itself. Any number of launches is served (under load the worker
   * may launch a second instance when the first is slow to be Ready).
   */
  async agentsForJoiningNodes(): Promise<{ url: string; agentOf(node: string): Promise<AgentHandle> }> {
    const started = new Map<string, Promise<AgentHandle>>();
    const agentOf = (node: string): Promise<AgentHandle> => {
      let a = started.get(node);
      if (!a) {
        a = this.k.core.readNode({ name: node }).then((n) => {
          if (n.metadata?.labels?.[SIM_LABEL] !== this.sim)
            throw new Error(`${node} is not a node of this bed`);
          return this.startAgent(node);
        });
        started.set(node, a);
        a.catch(() => started.delete(node));
      }
      return a;
    };
    const router = createServer((req, res) => {
      const node = audienceNode(String(req.headers.authorization ?? ''));
      if (!node) return void res.writeHead(401).end('no node in the token audience');
      agentOf(node).then(
        (a) => forward(new URL(a.url), req, res),
        (err: Error) => res.writeHead(503).end(err.message),
      );
    });
    await new Promise<void>((resolve) => router.listen(0, '127.0.0.1', resolve));
    this.onClose(async () => {
      router.closeAllConnections();
      await new Promise((resolve) => router.close(resolve));
    });
    return { url: `http://127.0.0.1:${(router.address() as AddressInfo).port}`, agentOf };
  }

  /** Worker settings for a test: its own BullMQ prefix and bucket, short locks, static agent map. */
  workerEnv(o: Omit<WorkerOptions, 'overrides'> = {}): Record<string, string> {
    const s = stackEnv();
    const agents = o.agents ?? Object.fromEntries(Object.values(this.agents).map((a) => [a.node, a.url]));
    return {
      SPOT_RESCUE_REDIS_URL: s.redisUrl,
      SPOT_RESCUE_AWS_ENDPOINT: s.awsEndpoint,
      AWS_REGION: s.awsRegion,
      KUBECONFIG: s.kubeconfig,
      SPOT_RESCUE_QUEUE_PREFIX: this.prefix,
      SPOT_RESCUE_S3_BUCKET: this.bucket,
      SPOT_RESCUE_AGENT_LOCATOR: 'static',
      SPOT_RESCUE_AGENT_ENDPOINTS: Object.entries(agents)
        .map(([n, u]) => `${n}=${u}`)
        .join(','),
      SPOT_RESCUE_WORKER_SERVICE_ACCOUNT: this.id.serviceAccount,
      SPOT_RESCUE_JOB_SIGNING_KEY_FILE: jobSigningKeyFile,
      SPOT_RESCUE_WORKER_LOCK_MS: '4000',
      // A copy here loses its name only where a test deletes it, at once: no need to wait the default out.
      SPOT_RESCUE_RESTORED_SETTLE_SECONDS: '2',
      SPOT_RESCUE_LOG_LEVEL: 'warn',
      SPOT_RESCUE_OPS_PORT: '0',
      SPOT_RESCUE_OPS_HOST: '127.0.0.1',
      ...o.extra,
    };
  }

  /** The worker service in this process, closed with the bed. */
  async startWorker(o: WorkerOptions = {}): Promise<WorkerService> {
    const env = this.workerEnv(o);
    const config = readConfig(allWorkerSettings, env) as FullWorkerConfig;
    this.worker = await startWorkerService(config, {
      log: createLogger('worker', env['SPOT_RESCUE_LOG_LEVEL'] ?? 'warn'),
      registry: createMetricsRegistry('worker', false),
      ...o.overrides,
    });
    return this.worker;
  }

  /** `spot-rescue worker` as a child process (to be killed); killed with the bed if still running. */
  spawnWorker(o: Omit<WorkerOptions, 'overrides'> = {}): SpawnedWorker {
    const child = spawn(process.execPath, ['--import', 'tsx', 'services/cli/main.ts', 'worker'], {
      env: { ...process.env, ...this.workerEnv(o) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.children.push(child);
    const logs: string[] = [];
    child.stdout?.on('data', (d: Buffer) => logs.push(d.toString()));
    child.stderr?.on('data', (d: Buffer) => logs.push(d.toString()));
    const lastLog = () => logs.join('').slice(-3000);
    return {
      child,
      logs,
      lastLog,
      crash: () => signalAndWait(child, 'SIGKILL'),
      explained: (p) =>
        p.catch((err: Error) => {
          throw new Error(`${err.message}\n${lastLog()}`);
        }),
    };
  }

  /** The node's agent process dies (SIGKILL); resolves once it has exited. */
  crashAgent(node: string): Promise<void> {
    return signalAndWait(this.agents[node]!.child, 'SIGKILL');
  }

  /** A Deployment of `replicas` pods labelled app=<name>. */
  async createDeployment(name: string, replicas: number, spec: V1PodSpec = this.podSpec()): Promise<void> {
    await this.k.apps.createNamespacedDeployment({
      namespace: this.ns,
      body: deploymentManifest(name, replicas, { spec }),
    });
  }

  /** A StatefulSet of one pod labelled app=<name> (so `<name>-0`), its service name its own. */
  async createStatefulSet(
    name: string,
    spec: V1PodSpec = this.podSpec(),
    extra: Partial<V1StatefulSetSpec> = {},
  ): Promise<void> {
    await this.k.apps.createNamespacedStatefulSet({
      namespace: this.ns,
      body: statefulSetManifest(name, { spec }, extra),
    });
  }

  /** A Job of one counting pod labelled app=<name>, never restarted; `annotations` go on its pod (the opt-in). */
  async createJob(name: string, annotations: Record<string, string> = {}): Promise<void> {
    await this.k.batch.createNamespacedJob({
      namespace: this.ns,
      body: jobManifest(name, { spec: this.podSpec(), annotations }, { parallelism: 1, completions: 1 }),
    });
  }

  /** A bare pod labelled app=<name>. */
  async createPod(name: string, spec: V1PodSpec = this.podSpec()): Promise<void> {
    await this.k.core.createNamespacedPod({ namespace: this.ns, body: podManifest(name, { spec }) });
  }

  /** Pods of the bed's namespace that are not being deleted. */
  async pods(labelSelector?: string): Promise<V1Pod[]> {
    const list = await this.k.core.listNamespacedPod({
      namespace: this.ns,
      ...(labelSelector ? { labelSelector } : {}),
    });
    return list.items.filter((p) => !p.metadata?.deletionTimestamp);
  }

  /** Waits until the namespace's pods satisfy `ok`; on timeout the error lists what was there. */
  async waitPods(
    what: string,
    ok: (pods: V1Pod[]) => boolean | Promise<boolean>,
    timeoutMs = 120_000,
  ): Promise<V1Pod[]> {
    let seen = '';
    return waitFor(
      what,
      async () => {
        const pods = await this.pods();
        seen = pods
          .map(
            (p) =>
              `${p.metadata?.name}:${p.status?.phase}@${p.spec?.nodeName}:${JSON.stringify(p.metadata?.labels)}`,
          )
          .join(' ');
        return (await ok(pods)) ? pods : undefined;
      },
      { timeoutMs },
    ).catch((err: Error) => {
      throw new Error(`${err.message} (saw ${seen})`);
    });
  }

  /** A migrate-pod job per pod for one warning, as the listener enqueues them; resolves with their results. */
  async migrateAll(
    event: EventRef,
    node: { name: string; instanceId: string },
    pods: V1Pod[],
    timeoutMs = 120_000,
  ): Promise<MigrateResult[]> {
    const jobs = [];
    for (const p of pods) jobs.push(await this.queues.migrate(event, node, p));
    return (await waitJobsDone(
      this.queues.rescue,
      jobs.map((j) => j.id!),
      timeoutMs,
    )) as MigrateResult[];
  }

  /** Waits until a migrate-pod job has saved one of `stages` as its progress; fails at once if it ended. */
  async waitJobStage(jobId: string, stages: string[], timeoutMs = 60_000): Promise<void> {
    let ended = '';
    await waitFor(
      `job ${jobId} at stage ${stages.join(' or ')}`,
      async () => {
        const job = await this.queues.rescue.getJob(jobId);
        const state = await job?.getState();
        if (state === 'completed' || state === 'failed') {
          ended = `${state}: ${JSON.stringify(job?.returnvalue ?? job?.failedReason)}`;
          return true;
        }
        return stages.includes((job?.progress as { stage?: string } | undefined)?.stage ?? '');
      },
      { timeoutMs },
    );
    if (ended) throw new Error(`job ${jobId} ended before reaching ${stages.join(' or ')}: ${ended}`);
  }

  /** Starts the pod's workload as a real runc process on the node's agent (the kubelet's part, locally). */
  async startCounter(node: string, pod: V1Pod, mib = 8): Promise<void> {
    const r = await callAgent(
      this.agents[node]!.url,
      await this.id.tokenFor(node),
      'POST',
      '/v1/local/containers',
      {
        namespace: pod.metadata?.namespace,
        pod: pod.metadata?.name,
        podUid: pod.metadata?.uid,
        container: pod.spec?.containers[0]?.name,
        args: ['/usr/local/bin/counter', String(mib), '/state/progress'],
      },
    );
    if (r.status !== 201) throw new Error(`could not start counter: ${r.status} ${JSON.stringify(r.body)}`);
  }

  async counterOf(node: string, pod: string, container = 'counter'): Promise<CounterState | null> {
    const r = await callAgent<{ status: string; progress?: string }>(
      this.agents[node]!.url,
      await this.id.tokenFor(node),
      'GET',
      `/v1/local/containers/${this.ns}/${pod}/${container}`,
    );
    if (r.status !== 200) return null;
    return {
      status: r.body.status,
      ...(r.body.progress ? { progress: parseProgress(r.body.progress) } : {}),
    };
  }

  /** Starts each pod's counter (`mib` of patterned memory) on `node` and waits until every one has counted past 20. */
  async startCounters(node: string, pods: V1Pod[], mib = 8): Promise<void> {
    for (const p of pods) await this.startCounter(node, p, mib);
    await waitFor(
      'every counter to run',
      async () => {
        for (const p of pods) {
          const c = await this.counterOf(node, p.metadata!.name!);
          if ((c?.progress?.['counter'] ?? 0) <= 20) return undefined;
        }
        return true;
      },
      { timeoutMs: 30_000 },
    );
  }

  /**
   * The restored copy's counter runs on past where the original stopped at
   * its checkpoint: the process moved with its memory instead of starting over.
   */
  /**
   * Until the namespace's one pod is a running copy of `original` on
   * `target` (named so by the worker's restored-from annotation) whose
   * counter went on from where the original's on `source` stood, its memory
   * pattern intact; returns the copy.
   */
  async waitRestoredCopy(original: V1Pod, source: string, target: string): Promise<V1Pod> {
    const [copy] = await this.waitPods('one running copy', (pods) => pods.length === 1 && isReady(pods[0]!));
    assert.equal(copy!.spec?.nodeName, target);
    assert.equal(copy!.metadata?.annotations?.[RESTORED_FROM_ANNOTATION], original.metadata?.uid);
    const pod = original.metadata!.name!;
    const state = await this.waitContinued({ node: source, pod }, { node: target, pod });
    assert.equal(state['corrupt'], 0, 'the memory pattern survived the move');
    return copy!;
  }

  async waitContinued(
    from: { node: string; pod: string },
    to: { node: string; pod: string },
  ): Promise<Record<string, number>> {
    const before = (await this.counterOf(from.node, from.pod))?.progress?.['counter'] ?? 0;
    if (before <= 20) throw new Error(`${from.pod}'s counter on ${from.node} was at ${before}: it never ran`);
    return waitFor(`${to.pod} on ${to.node} to count on past ${before}`, async () => {
      const c = await this.counterOf(to.node, to.pod);
      return c?.status === 'running' && c.progress && (c.progress['counter'] ?? 0) > before
        ? c.progress
        : undefined;
    });
  }

  /**
   * A node group's launch template in moto (an Amazon image, `instanceType`),
   * deleted at close, and the default subnet of us-east-1a to launch into.
   */
  async launchTemplate(
    ec2: EC2Client,
    name: string,
    instanceType = 'm5.xlarge',
  ): Promise<{ image: string; subnet: string }> {
    const image = (await ec2.send(new DescribeImagesCommand({ Owners: ['amazon'] }))).Images?.[0]?.ImageId;
    await ec2.send(
      new CreateLaunchTemplateCommand({
        LaunchTemplateName: name,
        LaunchTemplateData: { ImageId: image, InstanceType: instanceType as _InstanceType },
      }),
    );
    this.onClose(() => ec2.send(new DeleteLaunchTemplateCommand({ LaunchTemplateName: name })));
    const subnet = (
      await ec2.send(
        new DescribeSubnetsCommand({
          Filters: [
            { Name: 'default-for-az', Values: ['true'] },
            { Name: 'availability-zone', Values: ['us-east-1a'] },
          ],
        }),
      )
    ).Subnets?.[0]?.SubnetId;
    if (!image || !subnet)
      throw new Error(`moto has no Amazon image (${image}) or default subnet (${subnet})`);
    return { image, subnet };
  }

  /** Runs at close, once the workers are stopped and before anything else goes (last registered, first run). */
  onClose(fn: () => Promise<unknown>): void {
    this.cleanups.push(fn);
  }

  async close(): Promise<void> {
    await this.worker?.close();
    for (const c of this.children) await signalAndWait(c, 'SIGKILL');
    for (const f of this.cleanups.reverse()) await f().catch(() => {});
    await this.queues?.close();
    const pods = await this.k.core
      .listNamespacedPod({ namespace: this.ns })
      .then((l) => l.items)
      .catch(() => [] as V1Pod[]);
    for (const a of Object.values(this.agents)) {
      for (const p of pods) {
        for (const c of p.spec?.containers ?? []) {
          await callAgent(
            a.url,
            await this.id.tokenFor(a.node),
            'DELETE',
            `/v1/local/containers/${this.ns}/${p.metadata?.name}/${c.name}`,
          ).catch(() => {});
        }
      }
      await a.stop();
    }
    await removeSimNodeState(stackEnv().stateDir, Object.keys(this.agents));
    await this.k.core.deleteNamespace({ name: this.ns }).catch(() => {});
    const nodes = await this.k.core.listNode({ labelSelector: `${SIM_LABEL}=${this.sim}` }).catch(() => null);
    for (const n of nodes?.items ?? [])
      await this.k.core.deleteNode({ name: n.metadata!.name! }).catch(() => {});
    await deleteBucket(this.s3, this.bucket);
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
    this.s3.destroy();
  }
}

/**
 * A plain HTTP hop in front of moto that writes down every AWS API call the
 * worker makes through it: `ec2:RunInstances`, `autoscaling:SetDesiredCapacity`,
 * `s3:GET` ... (query-protocol services by their Action, S3 by its method).
 */
export class AwsCallLog {
  readonly calls: string[] = [];
  private server: Server | undefined;

  async start(): Promise<string> {
    const up = new URL(stackEnv().awsEndpoint);
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (d: Buffer) => chunks.push(d));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const auth = String(req.headers.authorization ?? '');
        const service = /Credential=[^/]+\/[^/]+\/[^/]+\/([^/]+)\//.exec(auth)?.[1] ?? '?';
        const action = new URLSearchParams(body.toString()).get('Action');
        this.calls.push(`${service}:${action ?? req.method}`);
        forward(up, req, res, body);
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Calls to anything but S3 (the archives' store). */
  get nonS3(): string[] {
    return this.calls.filter((c) => !c.startsWith('s3:'));
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}

/** The names of the Cluster's methods. */
type ClusterMethod = {
  [K in keyof Cluster]: Cluster[K] extends (...args: never[]) => unknown ? K : never;
}[keyof Cluster];
type Method<K extends ClusterMethod> = Extract<Cluster[K], (...args: never[]) => unknown>;

/**
 * The jobs' cluster (WorkerOptions.overrides.wrapCluster) with one method
 * wrapped, `fn` given the real one, the rest as they are: a fault or a
 * hold at one call of the worker's, against the real API server.
 */
export function around<K extends ClusterMethod>(
  cluster: Cluster,
  method: K,
  fn: (real: Method<K>, ...args: Parameters<Method<K>>) => ReturnType<Method<K>>,
): Cluster {
  return new Proxy(cluster, {
    get(c, prop) {
      if (prop === method) {
        const real = (c[method] as (...a: unknown[]) => unknown).bind(c) as Method<K>;
        return (...args: Parameters<Method<K>>) => fn(real, ...args);
      }
      const v = Reflect.get(c, prop);
      return typeof v === 'function' ? v.bind(c) : v;
    },
  });
}

/** The node a worker's agent token is for (services/common/agent-api.ts agentTokenAudience), read unverified. */
function audienceNode(authorization: string): string | undefined {
  const payload = /^Bearer [^.]+\.([^.]+)\./.exec(authorization)?.[1];
  if (!payload) return undefined;
  try {
    const { aud } = JSON.parse(Buffer.from(payload, 'base64url').toString()) as { aud?: unknown };
    const prefix = `${AGENT_TOKEN_AUDIENCE}/`;
    const audiences = Array.isArray(aud) ? aud : [aud];
    const mine = audiences.find((x): x is string => typeof x === 'string' && x.startsWith(prefix));
    return mine?.slice(prefix.length);
  } catch {
    return undefined;
  }
}

export { stackEnv, uniqueName, waitFor };
