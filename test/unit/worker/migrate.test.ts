/**
 * migrate-pod, the real migration (services/worker/migrate.ts and its stages
 * under migrate/), over in-memory fakes of what it talks to: the source and
 * target agents, the API server, the manifests in S3, the pod leases and
 * capacity reservations in Redis, and a clock that moves only when the
 * migration sleeps. Each test drives one path and checks its outcome and
 * the order of its effects, read from one journal every fake writes to:
 * the original is never removed before its copy runs, and a container a
 * checkpoint may have frozen is always released when the migration fails.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import type {
  ArchiveDigest,
  CheckpointRequest,
  CheckpointStatus,
  Manifest,
  NodeCapabilities,
  ReleaseRequest,
  ReleaseResponse,
  RestoreRequest,
  RestoreResponse,
} from '../../../services/common/agent-api.js';
import type { MigratePodJob, ProvisionCapacityJob } from '../../../services/common/jobs.js';
import { TAINT_KEY } from '../../../services/common/labels.js';
import { AgentCallError, type AgentClient } from '../../../services/worker/agent-client.js';
import { AgentRates } from '../../../services/worker/agent-rates.js';
import { ThroughputEstimate } from '../../../services/worker/budget.js';
import type { Cluster, EvictResult } from '../../../services/worker/cluster.js';
import type { ManifestStore } from '../../../services/worker/manifest-store.js';
import { WorkerMetrics } from '../../../services/worker/metrics.js';
import { NodeCapabilityCache } from '../../../services/worker/migrate/capabilities.js';
import type { Acquired, PodLease, PodLeases } from '../../../services/worker/migrate/lease.js';
import {
  type JobHandle,
  type MigrateDeps,
  type MigrateProgress,
  type MigrateResult,
  migratePod,
} from '../../../services/worker/migrate.js';
import type { Resources } from '../../../services/worker/pod-resources.js';
import type { Reservations } from '../../../services/worker/reservations.js';
import type { RestoreGrants } from '../../../services/worker/restore-grants.js';
import { pinnedNode, RESTORED_FROM_LABEL } from '../../../services/worker/restored-pod.js';

const DEADLINE = Date.parse('2026-09-01T12:02:00.000Z');
/** The job starts 100 s before the node dies: a 64 MiB pod's checkpoint fits with room to spare. */
const START = DEADLINE - 100_000;
const SOURCE = 'spot-a';
const TARGET = 'on-demand-b';
const NS = 'shop';
const UID = 'uid-cart-7d9f';
/** The readiness gate the AWS Load Balancer Controller injects, one per target group. */
const TARGET_HEALTH_GATE = 'target-health.elbv2.k8s.aws/k8s-shop-cart-4f2a9c1e07';

// ---------------------------------------------------------------------------------------------
// Fakes, all writing to one journal of effects

type Journal = string[];

/** Time that passes only when the migration waits: each sleep moves it on by what was asked. */
class FakeClock {
  constructor(public t: number) {}
  readonly now = (): number => this.t;
  readonly sleep = async (ms: number): Promise<void> => {
    this.t += Math.max(0, ms);
  };
}

/** Throws what the API server answers with a status (409 taken, 404 gone...), as the client library does. */
function apiError(code: number, message: string): Error {
  return Object.assign(new Error(message), { code });
}

/**
 * The API server, the scheduler and the kubelets, in memory. A created pod
 * is Pending and runs at the next read, bound to the node it is pinned to
 * (its kubelet started it), unless a test says how its containers end
 * instead; the Eviction API can be blocked by a budget for a number of calls.
 */
class FakeCluster implements Cluster {
  readonly pods = new Map<string, V1Pod>();
  readonly nodes: V1Node[] = [];
  readonly events: { pod: string; reason: string; message: string }[] = [];
  /** Evictions a PodDisruptionBudget refuses (429) before it lets one through. */
  pdbBlocks = 0;
  /**
   * How a restored pod's container turns out when its kubelet starts it.
   * `gated`: its containers ready, its Ready condition held False by a
   * readiness gate (a load balancer's target health) that cannot pass before
   * the copy has the labels its Service selects.
   */
  restoredPodStarts: 'running' | 'gated' | 'crash-loop' = 'running';
  /** Runs once an Event is recorded (the test changes the cluster meanwhile, as a request stalled that long would see). */
  onEvent: ((reason: string) => void) | undefined;
  /** Runs once a pod is patched (a controller acting on what the patch changed). */
  onPatch: ((pod: V1Pod) => void) | undefined;
  /** Runs once a pod is evicted or deleted (its controller seeing it go). */
  onRemove: ((pod: V1Pod) => void) | undefined;
  private uids = 0;

  constructor(
    private readonly journal: Journal,
    private readonly now: () => number = Date.now,
  ) {}

  private key(ns: string, name: string) {
    return `${ns}/${name}`;
  }

  add(pod: V1Pod): void {
    this.pods.set(this.key(pod.metadata?.namespace ?? '', pod.metadata?.name ?? ''), pod);
  }

  async getPod(namespace: string, name: string): Promise<V1Pod | null> {
    const pod = this.pods.get(this.key(namespace, name));
    if (!pod) return null;
    if (pod.status?.phase === 'Pending') this.start(pod);
    return structuredClone(pod);
  }

  /** The kubelet of the node the pod is pinned to starts it. */
  private start(pod: V1Pod): void {
    const name = pod.metadata?.name;
    pod.spec = { containers: [], ...pod.spec, nodeName: pod.spec?.nodeName ?? pinnedNode(pod) };
    if (this.restoredPodStarts === 'crash-loop') {
      pod.status = {
        phase: 'Running',
        containerStatuses: (pod.spec?.containers ?? []).map((c) => ({
          name: c.name,
          image: c.image ?? '',
          imageID: '',
          ready: false,
          restartCount: 2,
          state: { waiting: { reason: 'CrashLoopBackOff' } },
        })),
      };
      this.journal.push(`kubelet: ${name} crash-looping`);
      return;
    }
    const gated = this.restoredPodStarts === 'gated';
    pod.status = {
      phase: 'Running',
      conditions: [
        { type: 'ContainersReady', status: 'True' },
        { type: 'Ready', status: gated ? 'False' : 'True' },
        ...(gated ? [{ type: TARGET_HEALTH_GATE, status: 'False' }] : []),
      ],
    };
    this.journal.push(`kubelet: ${name} running${gated ? ', its readiness gate open' : ''}`);
  }

  private selected(pod: V1Pod, selector?: string): boolean {
    if (!selector) return true;
    return selector.split(',').every((term) => {
      const [k, v] = term.split('=');
      return pod.metadata?.labels?.[k ?? ''] === v;
    });
  }

  async listPods(namespace: string, labelSelector?: string): Promise<V1Pod[]> {
    return [...this.pods.values()]
      .filter((p) => p.metadata?.namespace === namespace && this.selected(p, labelSelector))
      .map((p) => structuredClone(p));
  }

  async listAllPods(labelSelector: string): Promise<V1Pod[]> {
    return [...this.pods.values()]
      .filter((p) => this.selected(p, labelSelector))
      .map((p) => structuredClone(p));
  }

  async listPodsOnNode(node: string): Promise<V1Pod[]> {
    return this.listPodsOnNodes([node]);
  }

  async listPodsOnNodes(nodes: string[]): Promise<V1Pod[]> {
    return [...this.pods.values()]
      .filter((p) => nodes.includes(p.spec?.nodeName ?? ''))
      .map((p) => structuredClone(p));
  }

  async listNodes(): Promise<V1Node[]> {
    return structuredClone(this.nodes);
  }

  async getNode(name: string): Promise<V1Node | null> {
    return structuredClone(this.nodes.find((n) => n.metadata?.name === name) ?? null);
  }

  async volumeZones(): Promise<string[]> {
    return [];
  }

  async createPod(pod: V1Pod): Promise<V1Pod> {
    const ns = pod.metadata?.namespace ?? '';
    const name = pod.metadata?.name ?? '';
    if (this.pods.has(this.key(ns, name))) throw apiError(409, `pods "${name}" already exists`);
    const created: V1Pod = structuredClone(pod);
    created.metadata = {
      ...created.metadata,
      uid: `uid-created-${++this.uids}`,
      creationTimestamp: new Date(this.now()),
    };
    created.status = { phase: 'Pending' };
    this.pods.set(this.key(ns, name), created);
    this.journal.push(`kube: create ${ns}/${name}`);
    return structuredClone(created);
  }

  async deletePod(namespace: string, name: string, uid: string): Promise<boolean> {
    const pod = this.pods.get(this.key(namespace, name));
    if (!pod || pod.metadata?.uid !== uid) return false;
    this.pods.delete(this.key(namespace, name));
    this.journal.push(`kube: delete ${namespace}/${name}`);
    this.onRemove?.(pod);
    return true;
  }

  async patchPod(namespace: string, name: string, patch: object): Promise<V1Pod> {
    const pod = this.pods.get(this.key(namespace, name));
    if (!pod) throw apiError(404, `pods "${name}" not found`);
    const meta = (patch as { metadata?: Record<string, unknown> }).metadata ?? {};
    const m = pod.metadata ?? {};
    if (meta.labels) m.labels = { ...m.labels, ...(meta.labels as Record<string, string>) };
    if (meta.ownerReferences) m.ownerReferences = meta.ownerReferences as never;
    if (meta.finalizers) m.finalizers = meta.finalizers as string[];
    if (meta.annotations) {
      const a = { ...m.annotations };
      for (const [k, v] of Object.entries(meta.annotations as Record<string, string | null>)) {
        if (v === null) delete a[k];
        else a[k] = v;
      }
      m.annotations = a;
    }
    pod.metadata = m;
    this.journal.push(`kube: patch ${namespace}/${name}`);
    const patched = structuredClone(pod);
    this.onPatch?.(pod);
    return patched;
  }

  async evictPod(namespace: string, name: string, uid: string): Promise<EvictResult> {
    const pod = this.pods.get(this.key(namespace, name));
    if (!pod || pod.metadata?.uid !== uid) return 'gone';
    if (this.pdbBlocks > 0) {
      this.pdbBlocks--;
      this.journal.push(`kube: eviction of ${namespace}/${name} refused by its budget`);
      return 'blocked';
    }
    this.pods.delete(this.key(namespace, name));
    this.journal.push(`kube: evict ${namespace}/${name}`);
    this.onRemove?.(pod);
    return 'evicted';
  }

  async recordEvent(pod: V1Pod, _type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    this.events.push({ pod: pod.metadata?.name ?? '', reason, message });
    this.onEvent?.(reason);
  }
}

/** How the source agent answers a checkpoint. */
type CheckpointBehaviour =
  | 'stores'
  /** Admission refuses it: the archive cannot be stored before the deadline. Nothing is frozen. */
  | 'refuses'
  /** Accepted, the containers frozen, then the dump fails. */
  | 'fails-frozen'
  /** The agent cannot be reached (a restart): a failure that may pass. */
  | 'unreachable'
  /** Accepted, the containers frozen, and the dump never ends (a hung CRIU, a stalled upload). */
  | 'hangs';

/**
 * Every node's agent. A checkpoint that starts freezes the pod's containers
 * on the source until they are released or the pod is gone; a stored one
 * puts its archive and manifest in the fake S3.
 */
class FakeAgents implements AgentClient {
  /** "node/pod/container" of every container frozen right now. */
  readonly frozen = new Set<string>();
  readonly checkpointBehaviour: CheckpointBehaviour[] = [];
  restoreFails: AgentCallError | undefined;
  /** The digests each stored checkpoint was answered with. */
  readonly answered: ArchiveDigest[][] = [];
  /** When each hung checkpoint said it would be stored. */
  private readonly estimates = new Map<string, string>();
  readonly capabilitiesOf = new Map<string, NodeCapabilities>();
  readonly withAgent = new Set<string>([SOURCE, TARGET]);
  readonly requests: {
    checkpoint: CheckpointRequest[];
    restore: RestoreRequest[];
    release: ReleaseRequest[];
  } = {
    checkpoint: [],
    restore: [],
    release: [],
  };

  constructor(
    private readonly journal: Journal,
    private readonly s3: FakeS3,
    private readonly clock: FakeClock,
  ) {}

  async checkpoint(): Promise<unknown> {
    throw new Error('the migration asks for checkpoints through admission (startCheckpoint)');
  }

  async startCheckpoint(node: string, req: CheckpointRequest): Promise<CheckpointStatus> {
    this.requests.checkpoint.push(req);
    const behaviour = this.checkpointBehaviour.shift() ?? 'stores';
    this.journal.push(`agent ${node}: checkpoint ${req.pod} (${behaviour})`);
    if (behaviour === 'unreachable')
      throw new AgentCallError('unreachable', `agent on ${node}: ECONNREFUSED`);
    if (behaviour === 'refuses') {
      throw new AgentCallError(
        'would-miss-deadline',
        `agent on ${node}: needs ~9.5 s at 6.2 MiB/s measured, 5 s left: its 64 MiB take ~9.5 s`,
        422,
      );
    }
    for (const c of req.containers) this.frozen.add(`${node}/${req.pod}/${c}`);
    if (behaviour === 'hangs') {
      const estimatedStoredAt = new Date(this.clock.now() + 5000).toISOString();
      this.estimates.set(req.checkpointId, estimatedStoredAt);
      return { checkpointId: req.checkpointId, state: 'running', estimatedStoredAt };
    }
    if (behaviour === 'fails-frozen') {
      return {
        checkpointId: req.checkpointId,
        state: 'failed',
        error: { error: 'runtime-failed', message: 'criu dump: page-server: connection reset' },
      };
    }
    const archives: ArchiveDigest[] = req.containers.map((name) => ({
      name,
      key: `${req.s3.prefix}/${name}.tar.zst`,
      bytesRaw: 64 * 2 ** 20,
      bytesCompressed: 8 * 2 ** 20,
      sha256: 'a'.repeat(64),
    }));
    const at = new Date(this.clock.now()).toISOString();
    const manifest: Manifest = {
      version: 1,
      checkpointId: req.checkpointId,
      cluster: 'test',
      namespace: req.namespace,
      pod: req.pod,
      podUid: req.podUid,
      sourceNode: node,
      runtime: 'runc',
      criuVersion: '4.2',
      createdAt: at,
      completedAt: at,
      containers: archives.map((a) => ({
        ...a,
        timings: { checkpointMs: 800, uploadMs: 700, totalMs: 1500 },
      })),
    };
    for (const a of archives) this.s3.objects.set(a.key, 'archive');
    this.s3.objects.set(`${req.s3.prefix}/manifest.json`, manifest);
    this.answered.push(archives);
    return { checkpointId: req.checkpointId, state: 'stored', archives };
  }

  /** Only a hung checkpoint is asked about: the agent holds the call as long as asked, and it still runs. */
  async checkpointStatus(node: string, checkpointId: string, waitSeconds: number): Promise<CheckpointStatus> {
    this.clock.t += waitSeconds * 1000;
    this.journal.push(`agent ${node}: still running after ${waitSeconds} s`);
    return { checkpointId, state: 'running', estimatedStoredAt: this.estimates.get(checkpointId) as string };
  }

  /** Runs while a restore is under way on that node (the test changes the cluster meanwhile). */
  duringRestore: ((node: string) => void) | undefined;

  async restore(node: string, req: RestoreRequest): Promise<RestoreResponse> {
    this.requests.restore.push(req);
    this.duringRestore?.(node);
    if (this.restoreFails) {
      this.journal.push(`agent ${node}: restore ${req.target.pod} failed`);
      throw this.restoreFails;
    }
    this.journal.push(`agent ${node}: restore ${req.target.pod}`);
    return { runtime: 'runc', node, containers: [{ name: 'main', downloadMs: 300, restoreMs: 400 }] };
  }

  async release(node: string, req: ReleaseRequest): Promise<ReleaseResponse> {
    this.requests.release.push(req);
    const thawed = req.containers.filter((c) => this.frozen.delete(`${node}/${req.pod}/${c}`));
    this.journal.push(`agent ${node}: release ${req.pod} (thawed ${thawed.length})`);
    return { thawed };
  }

  async capabilities(node: string): Promise<NodeCapabilities> {
    return (
      this.capabilitiesOf.get(node) ?? {
        node,
        runtime: { name: 'runc', version: '1.3.5' },
        criu: { found: true, version: '4.2' },
        checkpoint: { ok: true },
        restore: { ok: true },
        checkedAt: new Date(this.clock.now()).toISOString(),
      }
    );
  }

  async withAgents(nodes: string[]): Promise<Set<string>> {
    return new Set(nodes.filter((n) => this.withAgent.has(n)));
  }
}

/** The bucket: manifests parsed, archives as placeholders. */
class FakeS3 implements ManifestStore {
  readonly objects = new Map<string, Manifest | string>();
  readonly removed: string[] = [];

  constructor(private readonly journal: Journal) {}

  async read(_bucket: string, key: string): Promise<Manifest | null> {
    const o = this.objects.get(key);
    return typeof o === 'object' ? structuredClone(o) : null;
  }

  async remove(_bucket: string, keys: string[]): Promise<void> {
    for (const k of keys) {
      this.objects.delete(k);
      this.removed.push(k);
    }
    this.journal.push(`s3: remove ${keys.length} objects`);
  }
}

/** The pod leases of migrate/lease.ts: one holder per pod, a retry of the same job takes its own back. */
class FakePodLeases implements PodLeases {
  readonly held = new Map<string, string>();
  /** Redis is down: acquiring throws. */
  down = false;
  private fences = 0;

  async acquire(uid: string, holder: string): Promise<Acquired> {
    if (this.down) throw new Error('Redis: connection refused');
    const current = this.held.get(uid);
    if (current && current !== holder) return { heldBy: current };
    this.held.set(uid, holder);
    const fence = ++this.fences;
    const leases = this.held;
    const lease: PodLease = {
      holder,
      fence,
      async assertHeld() {},
      async release() {
        if (leases.get(uid) === holder) leases.delete(uid);
      },
      stop() {},
    };
    return { lease };
  }
}

/** Capacity claims on target nodes; every claim fits (placement's arithmetic is tested on its own). */
class FakeReservations implements Reservations {
  readonly claims = new Map<string, string>();

  async reserve(node: string, holder: string): Promise<boolean> {
    this.claims.set(holder, node);
    return true;
  }
  async heldBy(holder: string): Promise<string | null> {
    return this.claims.get(holder) ?? null;
  }
  async release(holder: string): Promise<void> {
    this.claims.delete(holder);
  }
  async reservedOn(): Promise<Map<string, Resources>> {
    return new Map();
  }
}

/** BullMQ's job: its id, whether this is its last attempt, and the progress it saved. */
class FakeJobHandle implements JobHandle {
  saved: MigrateProgress = {};
  constructor(
    readonly id: string,
    public finalAttempt = false,
  ) {}
  progress(): MigrateProgress {
    return structuredClone(this.saved);
  }
  async saveProgress(p: MigrateProgress): Promise<void> {
    this.saved = structuredClone(p);
  }
}

// ---------------------------------------------------------------------------------------------
// The cluster and the harness

function node(name: string, o: { interrupted?: boolean } = {}): V1Node {
  return {
    metadata: {
      name,
      labels: { 'topology.kubernetes.io/zone': 'us-east-1a', 'kubernetes.io/arch': 'amd64' },
    },
    spec: o.interrupted
      ? {
          unschedulable: true,
          taints: [{ key: TAINT_KEY, value: 'spot-interruption', effect: 'NoSchedule' }],
        }
      : {},
    status: {
      allocatable: { cpu: '4', memory: '8Gi', pods: '110' },
      conditions: [{ type: 'Ready', status: 'True' }],
    },
  };
}

/** The pod on the interrupted node; a ReplicaSet's unless said otherwise (a bare pod, a StatefulSet's). */
function original(owner: 'ReplicaSet' | 'StatefulSet' | 'none' = 'ReplicaSet'): V1Pod {
  const name = owner === 'StatefulSet' ? 'cart-0' : 'cart-7d9f-abcde';
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: NS,
      uid: UID,
      labels: { app: 'cart' },
      annotations: { 'spot-rescue.io/migrate': 'true' },
      creationTimestamp: new Date(START - 3_600_000),
      ...(owner === 'none'
        ? {}
        : {
            ownerReferences: [
              { apiVersion: 'apps/v1', kind: owner, name: 'cart', uid: 'rs-1', controller: true },
            ],
          }),
    },
    spec: {
      nodeName: SOURCE,
      terminationGracePeriodSeconds: 30,
      containers: [
        { name: 'main', image: 'cart:1', resources: { requests: { cpu: '250m', memory: '64Mi' } } },
      ],
    },
    status: {
      phase: 'Running',
      startTime: new Date(START - 3_600_000),
      conditions: [
        { type: 'ContainersReady', status: 'True' },
        { type: 'Ready', status: 'True' },
      ],
    },
  };
}

function harness(o: { owner?: 'ReplicaSet' | 'StatefulSet' | 'none'; start?: number } = {}) {
  const journal: Journal = [];
  const clock = new FakeClock(o.start ?? START);
  const cluster = new FakeCluster(journal, clock.now);
  const s3 = new FakeS3(journal);
  const agents = new FakeAgents(journal, s3, clock);
  const leases = new FakePodLeases();
  const reservations = new FakeReservations();
  const capacityAsked: ProvisionCapacityJob[] = [];
  const outcomes: { outcome: string; reason?: string }[] = [];
  cluster.nodes.push(node(SOURCE, { interrupted: true }), node(TARGET));
  const pod = original(o.owner);
  cluster.add(pod);
  const log = pino({ level: 'silent' });
  const deps: MigrateDeps = {
    cluster,
    agents,
    capabilities: new NodeCapabilityCache(agents, log, 60_000, clock.now),
    leases,
    manifests: s3,
    reservations,
    throughput: new ThroughputEstimate(50 * 2 ** 20),
    agentRates: new AgentRates(),
    metrics: new WorkerMetrics(new Registry()),
    log,
    config: {
      clusterName: 'test',
      s3Bucket: 'archives',
      checkpointOverheadMs: 3000,
      checkpointEstimateMarginSeconds: 20,
      safetyFactor: 1.5,
      checkpointRetrySeconds: 30,
      safetyMarginMs: 10_000,
      maxFallbackGraceSeconds: 30,
      evictionLeadMs: 5000,
      defaultMemoryMiB: 512,
      restoreTimeoutSeconds: 300,
      restoredSettleSeconds: 10,
      provisionMode: 'none',
      imageRepository: 'localhost/spot-rescue/checkpoint',
    },
    requestCapacity: async (j) => {
      capacityAsked.push(j);
    },
    onOutcome: (r) => outcomes.push({ outcome: r.outcome, ...(r.reason ? { reason: r.reason } : {}) }),
    now: clock.now,
    sleep: clock.sleep,
    pollMs: 500,
  };
  const job: MigratePodJob = {
    event: {
      id: 'ev-7e1d5a2c',
      kind: 'spot-interruption',
      deadline: new Date(DEADLINE).toISOString(),
      receivedAt: new Date(START).toISOString(),
      eventTime: new Date(DEADLINE - 120_000).toISOString(),
    },
    node: { name: SOURCE, instanceId: 'i-0abc123def4567890', zone: 'us-east-1a' },
    pod: { namespace: NS, name: pod.metadata?.name ?? '', uid: UID },
    deadline: new Date(DEADLINE).toISOString(),
  };
  const handle = new FakeJobHandle('migrate-pod__ev-7e1d5a2c__uid-cart-7d9f');
  return {
    journal,
    clock,
    cluster,
    s3,
    agents,
    leases,
    reservations,
    capacityAsked,
    outcomes,
    deps,
    job,
    handle,
    podName: pod.metadata?.name ?? '',
    migrate: (): Promise<MigrateResult> => migratePod(job, handle, deps),
  };
}

type Harness = ReturnType<typeof harness>;

/** Whether a journal line names `part` whole: "delete shop/cart" is not "delete shop/cart-r1a2b". */
function names(line: string, part: string): boolean {
  const i = line.indexOf(part);
  return i >= 0 && !/[\w-]/.test(line.charAt(i + part.length));
}

/** The position of the first journal line that names `part`; fails when there is none. */
function at(h: Harness, part: string): number {
  const i = h.journal.findIndex((line) => names(line, part));
  assert.ok(i >= 0, `no "${part}" in:\n  ${h.journal.join('\n  ')}`);
  return i;
}

function before(h: Harness, first: string, then: string): void {
  assert.ok(
    at(h, first) < at(h, then),
    `"${first}" should come before "${then}" in:\n  ${h.journal.join('\n  ')}`,
  );
}

function absent(h: Harness, part: string): void {
  assert.ok(!h.journal.some((l) => names(l, part)), `unexpected "${part}" in:\n  ${h.journal.join('\n  ')}`);
}

const restoredOf = (h: Harness) =>
  [...h.cluster.pods.values()].filter((p) => p.metadata?.labels?.[RESTORED_FROM_LABEL] === UID);

// ---------------------------------------------------------------------------------------------

describe('migrate-pod, the paths a migration takes', () => {
  it('restored: checkpoint on the source, restore on the target, the copy runs, then the original goes', async () => {
    const h = harness();
    const r = await h.migrate();

    assert.equal(r.outcome, 'restored', r.reason);
    assert.equal(r.target, TARGET);
    assert.match(r.restoredPod ?? '', /^cart-7d9f-abcde-r[0-9a-f]{5}$/);
    // Each step after the one it depends on; the original removed only once its copy runs.
    before(h, `agent ${SOURCE}: checkpoint ${h.podName}`, `agent ${TARGET}: restore ${r.restoredPod}`);
    before(h, `agent ${TARGET}: restore`, `kube: create ${NS}/${r.restoredPod}`);
    before(h, `kube: create ${NS}/${r.restoredPod}`, `kubelet: ${r.restoredPod} running`);
    before(h, `kubelet: ${r.restoredPod} running`, `kube: delete ${NS}/${h.podName}`);
    // The copy became the ReplicaSet's member before the original went: the controller never saw one too few.
    before(h, `kube: patch ${NS}/${r.restoredPod}`, `kube: delete ${NS}/${h.podName}`);
    const [copyPod] = restoredOf(h);
    assert.equal(copyPod?.metadata?.labels?.app, 'cart');
    assert.equal(copyPod?.metadata?.ownerReferences?.[0]?.kind, 'ReplicaSet');
    assert.equal(h.cluster.pods.has(`${NS}/${h.podName}`), false);
    // Nothing was drained, the target got the source's own digests, and the checkpoint left S3.
    absent(h, 'kube: evict');
    assert.equal(h.agents.answered.length, 1);
    assert.deepEqual(h.agents.requests.restore[0]?.archives, h.agents.answered[0]);
    assert.deepEqual(
      [...h.s3.objects.keys()],
      [],
      'the archives and the manifest are deleted once the copy runs',
    );
    assert.equal(h.reservations.claims.size, 0, 'the capacity claim is let go');
    assert.equal(h.leases.held.size, 0, 'the pod lease is let go');
    assert.deepEqual(h.outcomes, [{ outcome: 'restored' }]);
    assert.deepEqual(
      h.cluster.events.map((e) => e.reason),
      ['RescueStarted', 'Checkpointed', 'Restored'],
    );
    assert.match(h.cluster.events[0]?.message ?? '', /\(checkpoint ~[0-9.]+ s at 50 MiB\/s assumed/);
    assert.equal(await decisions(h, 'assumed', 'checkpoint'), 1, 'one budget decision counted');
  });

  it('restored under the same name (a StatefulSet): the original goes only after the target restored it', async () => {
    const h = harness({ owner: 'StatefulSet' });
    const r = await h.migrate();

    assert.equal(r.outcome, 'restored', r.reason);
    assert.equal(r.restoredPod, 'cart-0');
    before(h, `agent ${TARGET}: restore cart-0`, `kube: evict ${NS}/cart-0`);
    before(h, `kube: evict ${NS}/cart-0`, `kube: create ${NS}/cart-0`);
    const [copy] = restoredOf(h);
    assert.equal(copy?.metadata?.name, 'cart-0');
    assert.equal(copy?.status?.phase, 'Running');
  });

  it('a checkpoint call that fails on something that may pass (agent restarting) is tried again, then restored', async () => {
    const h = harness();
    h.agents.checkpointBehaviour.push('unreachable');
    const r = await h.migrate();

    assert.equal(r.outcome, 'restored', r.reason);
    assert.equal(h.agents.requests.checkpoint.length, 2);
    assert.ok(h.clock.t > START, 'waited before the second call');
  });
});

/** The worker's count of budget decisions for one rate source and decision. */
async function decisions(h: { deps: MigrateDeps }, rateSource: string, decision: string): Promise<number> {
  const m = await h.deps.metrics.budgetDecisions.get();
  return (
    m.values.find((v) => v.labels.rate_source === rateSource && v.labels.decision === decision)?.value ?? 0
  );
}

describe('migrate-pod, the paths that drain the original instead', () => {
  it('checkpoint refused by the source agent (cannot store in time): drained at once, nothing restored', async () => {
    const h = harness();
    h.agents.checkpointBehaviour.push('refuses');
    const r = await h.migrate();

    assert.equal(r.outcome, 'evicted');
    assert.equal(
      r.reason,
      `refused by ${SOURCE}'s agent: needs ~9.5 s at 6.2 MiB/s measured, 5 s left: its 64 MiB take ~9.5 s`,
      "the agent's figures, as kubectl describe pod and the worker log show them",
    );
    assert.equal(h.agents.requests.checkpoint.length, 1, 'a refusal is final: not asked again');
    assert.equal(h.clock.t, START, 'drained at once, without waiting');
    before(h, `agent ${SOURCE}: checkpoint`, `kube: evict ${NS}/${h.podName}`);
    absent(h, 'restore');
    absent(h, 'kube: create');
    assert.equal(h.agents.frozen.size, 0);
  });

  it('a node whose agent cannot checkpoint: drained without a checkpoint call, nothing frozen', async () => {
    const h = harness();
    h.agents.capabilitiesOf.set(SOURCE, {
      node: SOURCE,
      runtime: { name: 'containerd', version: '2.2.4' },
      criu: { found: false },
      checkpoint: { ok: false, reason: 'criu not found on containerd’s PATH' },
      restore: { ok: false, reason: 'criu not found' },
      checkedAt: new Date(START).toISOString(),
    });
    const r = await h.migrate();

    assert.equal(r.outcome, 'evicted');
    assert.match(r.reason ?? '', /cannot checkpoint: criu not found/);
    absent(h, 'checkpoint');
    assert.ok(h.journal.includes(`kube: evict ${NS}/${h.podName}`));
  });

  it('a ServiceAccount the worker may not restore as: drained before anything is frozen', async () => {
    const h = harness();
    const grants: RestoreGrants = { check: async () => ({ allowed: false, reason: 'no RoleBinding' }) };
    h.deps.restoreGrants = grants;
    const r = await h.migrate();

    assert.equal(r.outcome, 'evicted');
    assert.match(r.reason ?? '', /not granted restore-as/);
    absent(h, 'checkpoint');
    assert.ok(h.journal.includes(`kube: evict ${NS}/${h.podName}`));
  });

  it('checkpoint fails after freezing the pod: released (thawed) first, then drained', async () => {
    const h = harness();
    h.agents.checkpointBehaviour.push('fails-frozen');
    const r = await h.migrate();

    assert.equal(r.outcome, 'evicted');
    assert.match(r.reason ?? '', /checkpoint failed: .*criu dump/);
    // A frozen pod cannot run its SIGTERM handler: the thaw comes before the eviction.
    before(h, `agent ${SOURCE}: release ${h.podName} (thawed 1)`, `kube: evict ${NS}/${h.podName}`);
    assert.equal(h.agents.frozen.size, 0);
    assert.deepEqual(h.agents.requests.release[0]?.containers, ['main']);
    absent(h, 'kube: create');
  });

  it('restore fails on the target: the original, released, is drained as a plain drain would (its budget waited out)', async () => {
    const h = harness();
    h.agents.restoreFails = new AgentCallError(
      'integrity-mismatch',
      `agent on ${TARGET}: sha256 differs`,
      422,
    );
    h.cluster.pdbBlocks = 2;
    const r = await h.migrate();

    assert.equal(r.outcome, 'evicted');
    assert.match(r.reason ?? '', /sha256 differs/);
    before(h, `agent ${TARGET}: restore`, `agent ${SOURCE}: release ${h.podName} (thawed 1)`);
    // Through the Eviction API, which honours the PodDisruptionBudget: refused twice, then let through.
    before(h, `agent ${SOURCE}: release`, 'refused by its budget');
    assert.equal(h.journal.filter((l) => l.includes('refused by its budget')).length, 2);
    assert.ok(h.journal.includes(`kube: evict ${NS}/${h.podName}`));
    absent(h, 'kube: create');
    absent(h, 'kube: delete');
    assert.equal(h.agents.frozen.size, 0);
    assert.equal(h.reservations.claims.size, 0);
  });

  it('the restored copy never runs (crash loop): the copy is removed, the original released and drained', async () => {
    const h = harness();
    h.cluster.restoredPodStarts = 'crash-loop';
    const r = await h.migrate();

    assert.equal(r.outcome, 'evicted');
    assert.match(r.reason ?? '', /CrashLoopBackOff|restarted/);
    const copy = at(h, 'kube: create');
    const copyName = h.journal[copy]?.split('/')[1] ?? '';
    before(h, `kubelet: ${copyName} crash-looping`, `kube: delete ${NS}/${copyName}`);
    before(h, `agent ${SOURCE}: release`, `kube: evict ${NS}/${h.podName}`);
    // The original was never touched before its copy failed: no patch, no delete of it.
    absent(h, `kube: delete ${NS}/${h.podName}`);
    absent(h, `kube: patch ${NS}/${h.podName}`);
    assert.deepEqual(restoredOf(h), []);
    assert.equal(h.agents.frozen.size, 0);
  });

  it('a checkpoint still running well past its estimate: given up, released and drained with time to spare', async () => {
    const h = harness();
    h.agents.checkpointBehaviour.push('hangs');
    const r = await h.migrate();

    assert.equal(r.outcome, 'evicted');
    assert.match(r.reason ?? '', /checkpoint failed: .*still running 20 s past its estimate/);
    // The agent said 5 s; waited that and the 20 s margin, no longer.
    assert.equal(h.clock.t, START + 25_000);
    before(h, `agent ${SOURCE}: release ${h.podName} (thawed 1)`, `kube: evict ${NS}/${h.podName}`);
    assert.equal(h.agents.frozen.size, 0);
    absent(h, 'restore');
  });

  it('another job migrating the same pod (a second event for the node): this one waits, touches nothing', async () => {
    const h = harness();
    h.leases.held.set(UID, 'migrate-pod__asg-event__uid-cart-7d9f');
    const r = await h.migrate();

    assert.equal(r.outcome, 'duplicate');
    assert.deepEqual(h.journal, []);
    assert.ok(h.cluster.pods.has(`${NS}/${h.podName}`));
  });

  it('deadline already passed: no checkpoint, the original deleted at once (a dead node helps no budget)', async () => {
    const h = harness({ start: DEADLINE + 1000 });
    h.cluster.pdbBlocks = 5;
    const r = await h.migrate();

    assert.equal(r.outcome, 'evicted');
    assert.match(r.reason ?? '', /deadline already passed/);
    absent(h, 'checkpoint');
    absent(h, 'refused by its budget');
    assert.ok(h.journal.includes(`kube: delete ${NS}/${h.podName}`));
  });

  it('too little time left for even the fixed part of a checkpoint: drained with the grace that is left, nothing frozen', async () => {
    // 3 s before the cut-off (35 s are kept for the drain), the worker's 3 s overhead times 1.5 needs 4.5.
    const h = harness({ start: DEADLINE - 38_000 });
    const r = await h.migrate();

    assert.equal(r.outcome, 'evicted');
    assert.match(r.reason ?? '', /out of budget: .* at 50 MiB\/s assumed/);
    absent(h, 'checkpoint');
  });

  it("out of the worker's assumed budget, nothing measured on the node: the source agent decides, and its refusal drains at once", async () => {
    // 5 s before the cut-off: 64 MiB at the assumed 50 MiB/s needs ~6.5 s, but the agent knows better.
    const h = harness({ start: DEADLINE - 40_000 });
    h.agents.checkpointBehaviour.push('refuses');
    const r = await h.migrate();

    assert.equal(r.outcome, 'evicted');
    assert.match(
      r.reason ?? '',
      new RegExp(`^refused by ${SOURCE}'s agent: needs ~9.5 s at 6.2 MiB/s measured, 5 s left`),
    );
    assert.equal(h.clock.t, DEADLINE - 40_000, 'drained at once, without waiting');
    assert.equal(h.agents.frozen.size, 0);
    assert.equal(await decisions(h, 'deferred', 'checkpoint'), 1, 'counted as deferred to the agent');
  });

  it("a pod deferred to its agent: RescueStarted says the agent decides, CheckpointAccepted gives the agent's estimate", async () => {
    const h = harness({ start: DEADLINE - 40_000 });
    const r = await h.migrate();
    assert.equal(r.outcome, 'restored', r.reason);
    const started = h.cluster.events.find((e) => e.reason === 'RescueStarted')?.message ?? '';
    assert.match(started, /if its agent accepts: the source agent decides/);
    assert.match(
      started,
      /the worker's estimate \(~[0-9.]+ s at 50 MiB\/s assumed .*\) exceeds the 5 s left before the cut-off/,
    );
    assert.deepEqual(
      h.cluster.events.map((e) => e.reason),
      ['RescueStarted', 'CheckpointAccepted', 'Checkpointed', 'Restored'],
    );
    assert.match(
      h.cluster.events.find((e) => e.reason === 'CheckpointAccepted')?.message ?? '',
      new RegExp(`^${SOURCE}'s agent accepted the checkpoint`),
    );
  });

  it('a rate the source agent measured gates its pods: too slow a node drains the pod without asking', async () => {
    const h = harness();
    // 64 MiB at 1 MiB/s measured needs ~100 s with the safety factor, 65 s are left; ~8 s at the worker's own 50 MiB/s.
    h.deps.agentRates.observe(SOURCE, { bytesPerSec: 2 ** 20, basis: 'measured' });
    const r = await h.migrate();
    assert.equal(r.outcome, 'evicted');
    assert.match(r.reason ?? '', new RegExp(`out of budget: .* at 1 MiB/s measured on ${SOURCE}`));
    absent(h, 'checkpoint');
    assert.equal(await decisions(h, 'measured', 'drain'), 1);
    assert.equal(await decisions(h, 'assumed', 'drain'), 0);
  });

  it("a node's assumed rate is not taken for a measurement", async () => {
    const h = harness();
    h.deps.agentRates.observe(SOURCE, { bytesPerSec: 2 ** 20, basis: 'assumed' });
    const r = await h.migrate();
    assert.equal(r.outcome, 'restored');
  });

  it('last attempt with Redis down (no lease to be had): the pod is still drained', async () => {
    const h = harness();
    h.leases.down = true;
    h.handle.finalAttempt = true;
    const r = await h.migrate();

    assert.equal(r.outcome, 'evicted');
    assert.match(r.reason ?? '', /Redis: connection refused/);
    assert.ok(h.journal.includes(`kube: evict ${NS}/${h.podName}`));
  });

  it('an earlier attempt that did not end: thrown for BullMQ to retry, not drained', async () => {
    const h = harness();
    h.leases.down = true;
    await assert.rejects(h.migrate(), /Redis: connection refused/);
    assert.deepEqual(h.journal, []);
  });
});

/** A first attempt whose create of the copy meets an API server that is briefly away (after the restore). */
async function firstAttemptFailsAtCreate(h: Harness): Promise<void> {
  const create = h.cluster.createPod.bind(h.cluster);
  let failures = 1;
  h.cluster.createPod = async (pod) => {
    if (failures-- > 0) throw apiError(503, 'the server is currently unable to handle the request');
    return create(pod);
  };
  await assert.rejects(h.migrate(), /unable to handle the request/);
}

/** A second spare node with an agent; and `node` interrupted (tainted and cordoned by the listener). */
function addSpare(h: Harness, name: string): void {
  h.cluster.nodes.push(node(name));
  h.agents.withAgent.add(name);
}
function interrupt(h: Harness, name: string): void {
  const i = h.cluster.nodes.findIndex((n) => n.metadata?.name === name);
  h.cluster.nodes[i] = node(name, { interrupted: true });
}

describe('migrate-pod, a target interrupted while the pod is restored on it', () => {
  const SPARE = 'on-demand-c';

  it('is given up before the copy is created there, and the pod is restored on another node', async () => {
    const h = harness();
    addSpare(h, SPARE);
    h.agents.duringRestore = (n) => {
      if (n === TARGET) interrupt(h, TARGET);
    };
    // The first choice is the target (no claims, the same room): only the interruption moves it.
    const r = await h.migrate();

    assert.equal(r.outcome, 'restored', r.reason);
    assert.equal(r.target, SPARE);
    assert.deepEqual(
      h.journal.filter((l) => /: restore /.test(l)).map((l) => l.split(':')[0]),
      [`agent ${TARGET}`, `agent ${SPARE}`],
    );
    const copies = restoredOf(h);
    assert.equal(copies.length, 1, 'one copy, created once');
    const pinned = JSON.stringify(copies[0]?.spec?.affinity);
    assert.ok(pinned.includes(SPARE) && !pinned.includes(TARGET), `pinned to the new target: ${pinned}`);
    assert.ok(h.cluster.events.some((e) => e.reason === 'RestoreTargetLost'));
    assert.equal(h.reservations.claims.size, 0, 'no claim is left on either node');
  });

  it('a retry that finds its restored target interrupted restores again elsewhere, not on the node it gave up', async () => {
    const h = harness();
    addSpare(h, SPARE);
    await firstAttemptFailsAtCreate(h);
    assert.equal(h.handle.saved.stage, 'restored');
    assert.equal(h.handle.saved.target, TARGET);
    interrupt(h, TARGET);

    const r = await h.migrate();
    assert.equal(r.outcome, 'restored', r.reason);
    assert.equal(r.target, SPARE);
    assert.equal(h.agents.requests.restore.length, 2, 'restored again on the new target');
    assert.equal(restoredOf(h).length, 1);
  });
});

describe('migrate-pod, a retry carries on from the saved progress', () => {
  it('an API error after the checkpoint: the retry restores from the same archive, not checkpointing again', async () => {
    const h = harness();
    await firstAttemptFailsAtCreate(h);
    assert.equal(h.handle.saved.stage, 'restored');
    assert.equal(h.agents.requests.checkpoint.length, 1);
    absent(h, 'kube: evict');

    const r = await h.migrate();
    assert.equal(r.outcome, 'restored', r.reason);
    assert.equal(h.agents.requests.checkpoint.length, 1, 'checkpointed once');
    assert.equal(h.agents.requests.restore.length, 1, 'restored once');
    assert.equal(restoredOf(h).length, 1);
    before(h, 'kubelet:', `kube: delete ${NS}/${h.podName}`);
  });

  it('a worker killed while its StatefulSet copy settles: the retry waits the settle time out, and re-creates a copy that lost its name', async () => {
    const h = harness({ owner: 'StatefulSet' });
    // The worker dies at its first wait once the copy runs (stage created).
    let dies = true;
    h.deps.sleep = async (ms) => {
      if (dies && h.handle.saved.stage === 'created') {
        dies = false;
        throw new Error('worker killed');
      }
      return h.clock.sleep(ms);
    };
    await assert.rejects(h.migrate(), /worker killed/);
    assert.equal(h.handle.saved.stage, 'created');
    const [first] = restoredOf(h);
    assert.equal(first?.status?.phase, 'Running');

    // 3 s later, a delete by name meant for the original lands on the copy (its
    // controller has not made a fresh cart-0 yet).
    const removeAt = h.clock.t + 3000;
    const getPod = h.cluster.getPod.bind(h.cluster);
    h.cluster.getPod = async (ns, name) => {
      const copy = h.cluster.pods.get(`${ns}/${name}`);
      if (h.clock.t >= removeAt && copy?.metadata?.uid === first?.metadata?.uid) {
        h.cluster.pods.delete(`${ns}/${name}`);
        h.journal.push(`stray delete ${ns}/${name}`);
      }
      return getPod(ns, name);
    };
    const r = await h.migrate();
    h.clock.t = Math.max(h.clock.t, removeAt);
    const held = await h.cluster.getPod(NS, 'cart-0');

    assert.equal(r.outcome, 'restored', r.reason);
    assert.equal(
      held?.metadata?.labels?.[RESTORED_FROM_LABEL],
      UID,
      'cart-0 is a copy when reported restored',
    );
    assert.notEqual(held?.metadata?.uid, first?.metadata?.uid, 'created again after the stray delete');
    assert.equal(
      h.agents.requests.restore.length,
      1,
      'restored once: the copy is created again, not restored',
    );
  });
});

/** Someone else (another drain, a user) deletes the original, as the cluster's controllers then see it. */
function removedElsewhere(h: Harness): void {
  h.cluster.pods.delete(`${NS}/${h.podName}`);
  h.journal.push(`elsewhere: evict ${NS}/${h.podName}`);
}

describe('migrate-pod, an original someone else removes while the migration runs', () => {
  it('removed while a request stalled before the checkpoint: nothing is checkpointed or created, the pod is gone', async () => {
    const h = harness();
    // The API server stalls on the RescueStarted Event; meanwhile another drain evicts the pod.
    h.cluster.onEvent = (reason) => {
      if (reason === 'RescueStarted') removedElsewhere(h);
    };
    const r = await h.migrate();

    assert.equal(r.outcome, 'gone', r.reason);
    assert.match(r.reason ?? '', /deleted by someone else.*before its checkpoint/);
    assert.equal(h.agents.requests.checkpoint.length, 0, 'no checkpoint of a pod that is no longer there');
    absent(h, 'kube: create');
    assert.equal(h.reservations.claims.size, 0, 'the capacity claim is let go');
    assert.equal(h.leases.held.size, 0, 'the pod lease is let go');
  });

  it('removed during the restore (a ReplicaSet): the copy never joins the controller and goes, the pod is gone', async () => {
    const h = harness();
    h.agents.duringRestore = () => removedElsewhere(h);
    const r = await h.migrate();

    assert.equal(r.outcome, 'gone', r.reason);
    assert.match(r.reason ?? '', /before the swap/);
    assert.equal(restoredOf(h).length, 0, 'the staged copy is removed, not adopted');
    assert.ok(
      !h.journal.some((l) => l.startsWith('kube: patch')),
      `nothing adopted: ${h.journal.join(' | ')}`,
    );
    assert.deepEqual(h.agents.frozen, new Set(), 'nothing left frozen');
  });

  it("removed during the restore (a StatefulSet): its controller's fresh pod keeps the name", async () => {
    const h = harness({ owner: 'StatefulSet' });
    h.agents.duringRestore = () => {
      removedElsewhere(h);
      // The StatefulSet controller starts the ordinal afresh.
      const fresh = original('StatefulSet');
      fresh.metadata = { ...fresh.metadata, uid: 'uid-cart-0-fresh' };
      fresh.spec = { ...fresh.spec, nodeName: TARGET } as V1Pod['spec'];
      h.cluster.add(fresh);
    };
    const r = await h.migrate();

    assert.equal(r.outcome, 'gone', r.reason);
    assert.equal((await h.cluster.getPod(NS, 'cart-0'))?.metadata?.uid, 'uid-cart-0-fresh');
    absent(h, `kube: delete ${NS}/cart-0`);
    absent(h, `kube: create ${NS}/cart-0`);
  });

  it('the controller removes the copy once it joins: not reported restored', async () => {
    const h = harness();
    // A ReplicaSet that counts one pod too many once the copy joins, and ranks the copy lowest
    // (it started a replacement for the original already, or the copy is not Ready yet).
    h.cluster.onPatch = (pod) => {
      if (pod.metadata?.labels?.app !== 'cart' || pod.metadata?.name === h.podName) return;
      h.cluster.pods.delete(`${NS}/${pod.metadata?.name}`);
      h.journal.push(`replicaset: delete ${NS}/${pod.metadata?.name}`);
    };
    const r = await h.migrate();

    assert.equal(r.outcome, 'failed', r.reason);
    assert.match(r.reason ?? '', /its controller removed the restored pod .* its state lost/);
    assert.deepEqual(h.outcomes, [{ outcome: 'failed', reason: r.reason }]);
  });

  it('a worker killed while its joined copy settles: the retry still gives no restored verdict for a copy its controller removed', async () => {
    const h = harness();
    dieOnceJoined(h);
    await assert.rejects(h.migrate(), /worker killed/);
    const [copy] = restoredOf(h);
    assert.equal(copy?.metadata?.labels?.app, 'cart', 'the copy joined before the worker died');
    // The retry finds the copy running as the ReplicaSet's member; its controller removes it meanwhile
    // (a replacement ranked above it), before the settle time is out.
    const getPod = h.cluster.getPod.bind(h.cluster);
    h.cluster.getPod = async (ns, name) => {
      if (name === copy?.metadata?.name && h.cluster.pods.delete(`${ns}/${name}`))
        h.journal.push(`replicaset: delete ${ns}/${name}`);
      return getPod(ns, name);
    };
    const r = await h.migrate();
    assert.equal(r.outcome, 'failed', r.reason);
    assert.match(r.reason ?? '', /its controller removed the restored pod/);
  });

  it('a copy its controller keeps for the settle time after it joins is restored', async () => {
    const h = harness();
    const r = await h.migrate();

    assert.equal(r.outcome, 'restored', r.reason);
    const joined = at(h, `kube: patch ${NS}/${r.restoredPod}`);
    assert.ok(
      h.journal.slice(joined).length > 0 && h.clock.t - START >= h.deps.config.restoredSettleSeconds * 1000,
      'waited the settle time after the copy joined',
    );
  });
});

/**
 * The ReplicaSet controller, as far as a swap meets it: it counts the pods
 * it owns, starts a fresh one when one is missing, and with one too many
 * removes the first in kubernetes' ActivePodsWithRanks order
 * (pkg/controller/controller_utils.go): unassigned, Pending before Running,
 * not Ready before Ready, lower pod-deletion cost, more of its pods on the
 * same node, the newer. Ranked here on its own, not with the worker's code.
 */
class FakeReplicaSet {
  private fresh = 0;

  /**
   * `freshRuns`: its fresh pod is already running on that node when the
   * copy joins (its own readiness gate still open), not yet placed.
   */
  constructor(
    private readonly h: Harness,
    private readonly replicas: number,
    private readonly freshRuns?: string,
  ) {
    h.cluster.onPatch = () => this.sync();
    h.cluster.onRemove = () => this.sync();
  }

  members(): V1Pod[] {
    return [...this.h.cluster.pods.values()].filter((p) =>
      p.metadata?.ownerReferences?.some((r) => r.controller && r.uid === 'rs-1'),
    );
  }

  /** A member that is not the original or its copy, running on `node`. */
  addMember(name: string, node: string): void {
    const pod = original();
    pod.metadata = { ...pod.metadata, name, uid: `uid-${name}` };
    pod.spec = { ...(pod.spec as NonNullable<V1Pod['spec']>), nodeName: node };
    this.h.cluster.add(pod);
  }

  private sync(): void {
    const pods = this.members();
    if (pods.length < this.replicas) this.startFresh();
    else if (pods.length > this.replicas) {
      const [victim] = [...pods].sort((a, b) => compare(rank(a, pods), rank(b, pods)));
      this.h.cluster.pods.delete(`${NS}/${victim?.metadata?.name}`);
      this.h.journal.push(`replicaset: delete ${NS}/${victim?.metadata?.name}`);
    }
  }

  private startFresh(): void {
    const pod = original();
    const name = `cart-7d9f-fresh${++this.fresh}`;
    pod.metadata = { ...pod.metadata, name, uid: `uid-${name}`, creationTimestamp: new Date(this.h.clock.t) };
    pod.spec = { ...(pod.spec as NonNullable<V1Pod['spec']>), nodeName: this.freshRuns };
    pod.status = this.freshRuns
      ? {
          phase: 'Running',
          conditions: [
            { type: 'ContainersReady', status: 'True' },
            { type: 'Ready', status: 'False' },
            { type: TARGET_HEALTH_GATE, status: 'False' },
          ],
        }
      : { phase: 'Pending' };
    this.h.cluster.add(pod);
    this.h.journal.push(`replicaset: start ${NS}/${name}`);
  }
}

/** A pod's keys in ActivePodsWithRanks order: the smaller goes first. */
function rank(p: V1Pod, members: V1Pod[]): number[] {
  const node = p.spec?.nodeName;
  const phase = { Pending: 0, Unknown: 1, Running: 2 }[p.status?.phase ?? 'Pending'] ?? 0;
  const ready = p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? 1 : 0;
  const cost = Number(p.metadata?.annotations?.['controller.kubernetes.io/pod-deletion-cost'] ?? 0);
  const colocated = members.filter((q) => node && q.spec?.nodeName === node).length;
  const created = new Date(p.metadata?.creationTimestamp ?? 0).getTime();
  return [node ? 1 : 0, phase, ready, cost, -colocated, -created];
}

/** The worker dies at its first wait once the copy has joined the ReplicaSet; the next attempt lives. */
function dieOnceJoined(h: Harness): void {
  let dies = true;
  h.deps.sleep = async (ms) => {
    const joined = restoredOf(h).some((p) => p.metadata?.labels?.app === 'cart');
    if (dies && joined) {
      dies = false;
      throw new Error('worker killed');
    }
    return h.clock.sleep(ms);
  };
}

function compare(a: number[], b: number[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return (a[i] ?? 0) - (b[i] ?? 0);
  return 0;
}

describe('migrate-pod, the swap against a ReplicaSet that ranks its pods', () => {
  const SPARE = 'on-demand-c';
  const costOf = (p: V1Pod | undefined) =>
    p?.metadata?.annotations?.['controller.kubernetes.io/pod-deletion-cost'];
  const giveOriginalCost = (h: Harness, cost: string) => {
    const orig = h.cluster.pods.get(`${NS}/${h.podName}`) as V1Pod;
    orig.metadata = {
      ...orig.metadata,
      annotations: { ...orig.metadata?.annotations, 'controller.kubernetes.io/pod-deletion-cost': cost },
    };
  };

  /** The copy's deletion cost after each patch of it, and when: as it joined, then any after. */
  const copyCosts = (h: Harness) => {
    const costs: { cost: string | undefined; at: number }[] = [];
    const patch = h.cluster.patchPod.bind(h.cluster);
    h.cluster.patchPod = async (ns, name, body) => {
      const patched = await patch(ns, name, body);
      if (patched.metadata?.labels?.[RESTORED_FROM_LABEL] === UID)
        costs.push({ cost: costOf(patched), at: h.clock.t });
      return patched;
    };
    return costs;
  };

  it('a copy that is Ready joins before its original goes: the ReplicaSet removes the original, no fresh pod is started', async () => {
    const h = harness();
    const rs = new FakeReplicaSet(h, 1);
    const r = await h.migrate();

    assert.equal(r.outcome, 'restored', r.reason);
    before(h, `kube: patch ${NS}/${h.podName}`, `kube: patch ${NS}/${r.restoredPod}`);
    assert.ok(h.journal.includes(`replicaset: delete ${NS}/${h.podName}`), h.journal.join('\n'));
    absent(h, 'kube: evict');
    absent(h, 'replicaset: start');
    assert.deepEqual(
      rs.members().map((p) => p.metadata?.name),
      [r.restoredPod],
    );
    assert.equal(costOf(restoredOf(h)[0]), undefined, 'the copy ranks above its original without a cost');
  });

  it("a copy that is Ready joins first with no cost, and its original's own is not put on it afterwards", async () => {
    const h = harness();
    giveOriginalCost(h, '40');
    new FakeReplicaSet(h, 1);
    const costs = copyCosts(h);
    const r = await h.migrate();

    assert.equal(r.outcome, 'restored', r.reason);
    assert.deepEqual(
      costs.map((c) => c.cost),
      [undefined],
      'patched once, to join',
    );
    assert.equal(costOf(restoredOf(h)[0]), undefined);
  });

  it('a copy whose readiness gate is still open goes in after its original, evicted: the ReplicaSet keeps the copy over its fresh pod', async () => {
    const h = harness();
    h.cluster.restoredPodStarts = 'gated';
    const rs = new FakeReplicaSet(h, 1);
    const costs = copyCosts(h);
    const r = await h.migrate();

    assert.equal(r.outcome, 'restored', r.reason);
    // Through the Eviction API, as a drain: a budget holds it as it holds a drain.
    before(h, `kubelet: ${r.restoredPod} running, its readiness gate open`, `kube: evict ${NS}/${h.podName}`);
    before(h, `kube: evict ${NS}/${h.podName}`, `kube: patch ${NS}/${r.restoredPod}`);
    absent(h, `kube: patch ${NS}/${h.podName}`);
    // The fresh pod the eviction made the ReplicaSet start was unassigned when the copy joined.
    before(h, `replicaset: start ${NS}/cart-7d9f-fresh1`, `kube: patch ${NS}/${r.restoredPod}`);
    assert.ok(h.journal.includes(`replicaset: delete ${NS}/cart-7d9f-fresh1`), h.journal.join('\n'));
    assert.deepEqual(
      rs.members().map((p) => p.metadata?.name),
      [r.restoredPod],
    );
    // The cost ranked the copy while the ReplicaSet counted it, then went with the settle time.
    assert.deepEqual(
      costs.map((c) => c.cost),
      ['1', undefined],
      'joined with a cost above the default, then had none again, as its original',
    );
    const [joined, returned] = costs;
    assert.ok(
      (returned?.at ?? 0) - (joined?.at ?? 0) >= h.deps.config.restoredSettleSeconds * 1000,
      'taken back only once the copy was kept through the settle time',
    );
    assert.equal(costOf(restoredOf(h)[0]), undefined);
  });

  it('both the copy and the fresh pod running, neither Ready: the deletion cost keeps the copy, even on the more crowded node', async () => {
    const h = harness();
    h.cluster.restoredPodStarts = 'gated';
    // Two replicas: another already on the target, and the fresh pod runs on a node of its own.
    const rs = new FakeReplicaSet(h, 2, SPARE);
    rs.addMember('cart-7d9f-other', TARGET);
    const r = await h.migrate();

    assert.equal(r.outcome, 'restored', r.reason);
    assert.ok(h.journal.includes(`replicaset: delete ${NS}/cart-7d9f-fresh1`), h.journal.join('\n'));
    assert.deepEqual(
      rs
        .members()
        .map((p) => p.metadata?.name)
        .sort(),
      ['cart-7d9f-other', r.restoredPod].sort(),
    );
  });

  it('the original keeps its own deletion cost for the ranking: the copy joins one above it', async () => {
    const h = harness();
    h.cluster.restoredPodStarts = 'gated';
    giveOriginalCost(h, '40');
    new FakeReplicaSet(h, 1);
    const costs = copyCosts(h);
    const r = await h.migrate();

    assert.equal(r.outcome, 'restored', r.reason);
    assert.deepEqual(
      costs.map((c) => c.cost),
      ['41', '40'],
      "joined one above the original's cost, then kept its original's own",
    );
    assert.equal(costOf(restoredOf(h)[0]), '40');
  });

  it('a worker killed while its gated copy settles: the retry, finding the copy kept, takes the cost back', async () => {
    const h = harness();
    h.cluster.restoredPodStarts = 'gated';
    const rs = new FakeReplicaSet(h, 1);
    dieOnceJoined(h);
    await assert.rejects(h.migrate(), /worker killed/);
    assert.equal(costOf(restoredOf(h)[0]), '1', 'joined with its cost before the worker died');

    const r = await h.migrate();
    assert.equal(r.outcome, 'restored', r.reason);
    assert.deepEqual(
      rs.members().map((p) => p.metadata?.name),
      [r.restoredPod],
    );
    assert.equal(costOf(restoredOf(h)[0]), undefined, 'none, as its original');
  });

  it('a patch taking the cost back that fails: still restored, the cost left with a warn line', async () => {
    const h = harness();
    h.cluster.restoredPodStarts = 'gated';
    new FakeReplicaSet(h, 1);
    const lines: string[] = [];
    h.deps.log = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
    const patch = h.cluster.patchPod.bind(h.cluster);
    let copyPatches = 0;
    h.cluster.patchPod = async (ns, name, body) => {
      if (name !== h.podName && ++copyPatches === 2)
        throw apiError(503, 'the server is currently unable to handle the request');
      return patch(ns, name, body);
    };
    const r = await h.migrate();

    assert.equal(r.outcome, 'restored', r.reason);
    assert.equal(copyPatches, 2, 'the cost was to be taken back');
    assert.equal(costOf(restoredOf(h)[0]), '1');
    const warned = lines.map((l) => JSON.parse(l)).find((l) => /keeps the deletion cost/.test(l.msg));
    assert.equal(warned?.level, 40, lines.join(''));
    assert.equal(warned?.deletionCost, '1');
    assert.match(warned?.err ?? '', /unable to handle the request/);
  });

  it('a worker that dies between the eviction of the original and the adoption: the retry adopts the copy, not taking the eviction for someone else', async () => {
    const h = harness();
    h.cluster.restoredPodStarts = 'gated';
    const rs = new FakeReplicaSet(h, 1);
    const patch = h.cluster.patchPod.bind(h.cluster);
    let failures = 1;
    h.cluster.patchPod = async (ns, name, body) => {
      if (name !== h.podName && failures-- > 0)
        throw apiError(503, 'the server is currently unable to handle the request');
      return patch(ns, name, body);
    };
    await assert.rejects(h.migrate(), /unable to handle the request/);
    assert.equal(h.handle.saved.originalRemoved, true, 'marked removed by this migration');
    assert.equal(h.cluster.pods.has(`${NS}/${h.podName}`), false, 'the original went first');

    const r = await h.migrate();
    assert.equal(r.outcome, 'restored', r.reason);
    assert.equal(h.journal.filter((l) => l.startsWith('kube: evict')).length, 1, 'evicted once');
    assert.deepEqual(
      rs.members().map((p) => p.metadata?.name),
      [r.restoredPod],
    );
    assert.equal(costOf(restoredOf(h)[0]), undefined, 'its cost taken back once kept');
  });
});
