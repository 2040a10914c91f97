import type { Logger } from 'pino';
import {
  type ArchiveDigest,
  archiveDigests,
  type CheckpointRequest,
  type CheckpointStatus,
  type ContainerArchive,
  type Manifest,
  manifestSchema,
  type NodeCapabilities,
  type ReleaseRequest,
  type ReleaseResponse,
  type RestoreRequest,
  type RestoreResponse,
} from '../common/agent-api.js';
import { archiveKey, buildManifest, manifestKey, selectContainers } from './archive-layout.js';
import type { ArchiveStores, ScopedStore } from './archive-scope.js';
import { type ArchiveStore, JsonTooLarge } from './archive-store.js';
import type { Admitted, CheckpointAdmission, Unadmitted } from './checkpoint-admission.js';
import { streamArchiveToStore, type ZstdOptions } from './checkpoint-pipeline.js';
import { CheckpointSlots } from './checkpoint-slots.js';
import { ContainerOperations } from './container-operations.js';
import { deadlineSignal, throwIfAborted } from './deadline.js';
import { AgentFailure, asAgentFailure } from './errors.js';
import type { AgentMetrics } from './metrics.js';
import { streamArchiveFromStore } from './restore-pipeline.js';
import type { CheckpointedContainer, CheckpointRuntime, RestoreSink } from './runtimes/runtime.js';

export interface CheckpointRestoreOptions {
  cluster: string;
  node: string;
  instanceId?: string | undefined;
  runtime: CheckpointRuntime;
  store: ArchiveStore;
  /** Each operation's S3 access: the session credentials of its request when it carries them, else `store`. */
  stores?: ArchiveStores;
  zstd: ZstdOptions;
  /** Largest archive restored, compressed or unpacked (default: no limit). */
  maxArchiveBytes?: number;
  /** Checkpoints that may dump and upload at once on this node (default: no limit). */
  slots?: CheckpointSlots;
  /**
   * Judges requests that carry the pod's memory: refused at once if they
   * cannot be stored before their deadline behind this node's queue.
   */
  admission?: CheckpointAdmission;
  /** How long a finished checkpoint's status stays readable (GET /v1/checkpoints/:id). */
  statusTtlMs?: number;
  /** One operation per container (shared with the runtime, which holds containers after an abandoned dump). */
  operations?: ContainerOperations;
  /** What this node can do: a checkpoint or restore it cannot do is refused (422 unsupported) before anything is touched. */
  capabilities?: () => Promise<NodeCapabilities>;
  metrics: AgentMetrics;
  log: Logger;
}

/** A checkpoint this agent started, readable by its id until a while after it ended. */
interface TrackedCheckpoint {
  req: CheckpointRequest;
  state: CheckpointStatus['state'];
  admitted?: Admitted | undefined;
  error?: AgentFailure;
  stored: Promise<Manifest>;
  /** Once stored: what was stored, for the digests in its status. */
  manifest?: Manifest;
  /** Settles (never rejects) when the checkpoint ends. */
  ended: Promise<void>;
}

export interface StartedCheckpoint {
  status: CheckpointStatus;
  /** The stored manifest, or the failure, once the checkpoint ends. */
  stored: Promise<Manifest>;
}

function keysOf(namespace: string, pod: string, containers: string[]): string[] {
  return [...new Set(containers)].map((c) => `${namespace}/${pod}/${c}`);
}

/** The agent's two operations, independent of HTTP: checkpoint to S3, restore from S3. */
export class CheckpointRestore {
  private readonly slots: CheckpointSlots;
  readonly operations: ContainerOperations;
  private readonly tracked = new Map<string, TrackedCheckpoint>();

  constructor(private readonly o: CheckpointRestoreOptions) {
    this.slots = o.slots ?? new CheckpointSlots(Number.POSITIVE_INFINITY);
    this.operations = o.operations ?? new ContainerOperations();
  }

  /** Refuses early, before any freeze or download, what this node cannot do. */
  private async requireCapability(what: 'checkpoint' | 'restore'): Promise<void> {
    if (!this.o.capabilities) return;
    const caps = await this.o.capabilities();
    const c = caps[what];
    if (!c.ok) {
      this.o.metrics.operations.inc({ operation: what, outcome: 'unsupported' });
      throw new AgentFailure(
        'unsupported',
        `node ${caps.node} cannot ${what}: ${c.reason ?? 'unknown reason'}`,
      );
    }
  }

  async checkpoint(req: CheckpointRequest): Promise<Manifest> {
    return (await this.startCheckpoint(req)).stored;
  }

  /**
   * Answers at once: the checkpoint is refused (what the node cannot do,
   * another operation on the container, an archive that would miss its
   * deadline) before anything is frozen, or accepted and started, with an
   * estimate of when it will be stored. Asking again for a checkpoint id
   * that is in progress or stored answers with that one (a worker's retry).
   */
  async startCheckpoint(req: CheckpointRequest): Promise<StartedCheckpoint> {
    const known = this.tracked.get(req.checkpointId);
    if (known && known.state !== 'failed' && known.req.podUid === req.podUid) {
      return { status: this.statusOf(req.checkpointId, known), stored: known.stored };
    }
    await this.requireCapability('checkpoint');
    const unlock = this.operations.acquire(keysOf(req.namespace, req.pod, req.containers), 'checkpoint');
    let admitted: Admitted | undefined;
    try {
      admitted = this.admit(req);
    } catch (err) {
      unlock();
      const failure = asAgentFailure(err, undefined, 'runtime-failed');
      this.o.metrics.operations.inc({ operation: 'checkpoint', outcome: failure.code });
      this.o.log.info({ checkpointId: req.checkpointId, message: failure.message }, 'checkpoint refused');
      throw failure;
    }
    const track: Partial<TrackedCheckpoint> & { req: CheckpointRequest } = {
      req,
      state: 'queued',
      admitted,
    };
    const stored = this.checkpointLocked(req, admitted, () => {
      track.state = 'running';
    }).finally(unlock);
    track.stored = stored;
    track.ended = stored.then(
      (manifest) => {
        track.manifest = manifest;
        track.state = 'stored';
      },
      (err: unknown) => {
        track.state = 'failed';
        track.error = asAgentFailure(err, undefined, 'runtime-failed');
      },
    );
    const tracked = track as TrackedCheckpoint;
    this.tracked.set(req.checkpointId, tracked);
    void tracked.ended.then(() => {
      const forget = setTimeout(() => {
        if (this.tracked.get(req.checkpointId) === tracked) this.tracked.delete(req.checkpointId);
      }, this.o.statusTtlMs ?? 600_000);
      forget.unref();
    });
    return { status: this.statusOf(req.checkpointId, tracked), stored };
  }

  /**
   * A started checkpoint's state; waits up to `waitMs` for it to end first,
   * so the worker learns of the end at once without polling hard.
   */
  async checkpointStatus(checkpointId: string, waitMs = 0): Promise<CheckpointStatus> {
    const t = this.tracked.get(checkpointId);
    if (!t) throw new AgentFailure('not-found', `no checkpoint ${checkpointId} on this agent`);
    if (waitMs > 0 && (t.state === 'queued' || t.state === 'running')) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        t.ended,
        new Promise<void>((r) => {
          timer = setTimeout(r, waitMs);
        }),
      ]);
      clearTimeout(timer);
    }
    return this.statusOf(checkpointId, t);
  }

  private statusOf(checkpointId: string, t: TrackedCheckpoint): CheckpointStatus {
    const at =
      t.state === 'queued' || t.state === 'running'
        ? t.admitted && this.o.admission?.estimatedStoredAt(checkpointId)
        : undefined;
    return {
      checkpointId,
      state: t.state,
      ...(at !== undefined && Number.isFinite(at) ? { estimatedStoredAt: new Date(at).toISOString() } : {}),
      // Every answer carries it, the last (stored) one included: that is when a new measurement has just come in.
      ...(this.o.admission ? { throughput: this.o.admission.throughput } : {}),
      ...(t.error ? { error: t.error.toBody() } : {}),
      ...(t.state === 'stored' && t.manifest ? { archives: archiveDigests(t.manifest) } : {}),
    };
  }

  private admit(req: CheckpointRequest): Admitted | undefined {
    if (!this.o.admission || req.memoryBytes === undefined) return undefined;
    return this.o.admission.admit({
      id: req.checkpointId,
      bytes: req.memoryBytes,
      cutoff: Date.parse(req.deadline),
      startedAt: req.podStartedAt ? Date.parse(req.podStartedAt) : undefined,
    });
  }

  /**
   * Thaws what a checkpoint froze and drops its raw archives, for every
   * container named; idempotent, so the worker calls it before any fallback.
   */
  async release(req: ReleaseRequest): Promise<ReleaseResponse> {
    const { runtime, metrics, log } = this.o;
    const unlock = this.operations.acquire(keysOf(req.namespace, req.pod, req.containers), 'release');
    try {
      const thawed: string[] = [];
      for (const container of req.containers) {
        const wasFrozen = await runtime.release({
          namespace: req.namespace,
          pod: req.pod,
          podUid: req.podUid,
          container,
          checkpointId: req.checkpointId,
        });
        if (wasFrozen) thawed.push(container);
      }
      metrics.operations.inc({ operation: 'release', outcome: 'ok' });
      log.info({ checkpointId: req.checkpointId, pod: `${req.namespace}/${req.pod}`, thawed }, 'released');
      return { thawed };
    } catch (err) {
      const failure = asAgentFailure(err, undefined, 'runtime-failed');
      metrics.operations.inc({ operation: 'release', outcome: failure.code });
      throw failure;
    } finally {
      unlock();
    }
  }

  /** The store of one operation; `release` it when the operation ends. */
  private scoped(credentials: CheckpointRequest['credentials']): ScopedStore {
    return this.o.stores?.forOperation(credentials) ?? { store: this.o.store, release: () => {} };
  }

  private async checkpointLocked(
    req: CheckpointRequest,
    admitted: Admitted | undefined,
    onRunning: () => void,
  ): Promise<Manifest> {
    const { runtime, metrics, log } = this.o;
    const scoped = this.scoped(req.credentials);
    const { store } = scoped;
    const deadline = deadlineSignal(req.deadline);
    // Until it has a slot, a re-plan may drop it too; once it runs, only the deadline ends it.
    const waitSignal = admitted ? AbortSignal.any([deadline.signal, admitted.dropped]) : deadline.signal;
    const { signal } = deadline;
    let sample: { bytes: number; ms: number } | undefined;
    const createdAt = new Date();
    const dumped: CheckpointedContainer[] = [];
    const uploaded: string[] = [];
    const archives: ContainerArchive[] = [];
    let release = () => {};
    let unadmitted: Unadmitted | undefined;
    try {
      throwIfAborted(waitSignal);
      const criuVersion = await runtime.criuVersion();
      const queuedAt = performance.now();
      // An admitted checkpoint takes a slot in its plan's order, not in the order the burst's requests arrived.
      await admitted?.turn(waitSignal);
      release = await this.slots.acquire(waitSignal, admitted?.rank);
      throwIfAborted(waitSignal);
      admitted?.started();
      unadmitted = admitted ? undefined : this.o.admission?.unadmittedStarted(req.checkpointId);
      onRunning();
      let queuedMs = performance.now() - queuedAt;
      for (const container of req.containers) {
        const key = archiveKey(req.s3.prefix, container);
        const t0 = performance.now();
        const cp = await runtime.checkpoint(
          { namespace: req.namespace, pod: req.pod, podUid: req.podUid, container },
          req.checkpointId,
          signal,
          new Date(req.deadline),
        );
        dumped.push(cp);
        const t1 = performance.now();
        let streamed: Awaited<ReturnType<typeof streamArchiveToStore>>;
        try {
          streamed = await streamArchiveToStore(
            cp,
            store,
            { bucket: req.s3.bucket, key },
            this.o.zstd,
            signal,
          );
        } catch (err) {
          throw asAgentFailure(err, signal, 'storage-failed');
        }
        uploaded.push(key);
        const t2 = performance.now();
        archives.push({
          name: container,
          key,
          bytesRaw: streamed.bytesRaw,
          bytesCompressed: streamed.bytesCompressed,
          sha256: streamed.sha256,
          timings: {
            checkpointMs: round(t1 - t0),
            uploadMs: round(t2 - t1),
            totalMs: round(t2 - t0),
            queuedMs: round(queuedMs),
          },
        });
        queuedMs = 0;
        metrics.stageSeconds.observe({ stage: 'checkpoint' }, (t1 - t0) / 1000);
        metrics.stageSeconds.observe({ stage: 'upload' }, (t2 - t1) / 1000);
        metrics.bytes.inc({ direction: 'up', kind: 'raw' }, streamed.bytesRaw);
        metrics.bytes.inc({ direction: 'up', kind: 'compressed' }, streamed.bytesCompressed);
        log.info({ checkpointId: req.checkpointId, container, ...archives.at(-1) }, 'container archived');
      }
      const manifest = buildManifest({
        request: req,
        cluster: this.o.cluster,
        sourceNode: this.o.node,
        sourceInstanceId: this.o.instanceId,
        runtime: runtime.name,
        criuVersion,
        createdAt,
        completedAt: new Date(),
        containers: archives,
      });
      throwIfAborted(signal);
      try {
        await store.putJson(req.s3.bucket, manifestKey(req.s3.prefix), manifest, signal);
      } catch (err) {
        throw asAgentFailure(err, signal, 'storage-failed');
      }
      for (const cp of dumped) await cp.commit();
      metrics.operations.inc({ operation: 'checkpoint', outcome: 'ok' });
      sample = {
        bytes: archives.reduce((n, a) => n + a.bytesRaw, 0),
        ms: archives.reduce((n, a) => n + a.timings.totalMs, 0),
      };
      return manifest;
    } catch (err) {
      const failure = asAgentFailure(err, waitSignal, 'runtime-failed');
      metrics.operations.inc({ operation: 'checkpoint', outcome: failure.code });
      log.warn(
        { checkpointId: req.checkpointId, error: failure.code, message: failure.message },
        'checkpoint failed',
      );
      // The pod will be evicted the ordinary way instead: put it back as it was and leave nothing half-written.
      for (const cp of dumped.reverse()) {
        await cp
          .rollback()
          .catch((e: Error) => log.error({ err: e.message }, 'rollback after a failed checkpoint failed'));
      }
      for (const key of uploaded)
        await store.remove(req.s3.bucket, key).then(
          () => metrics.operations.inc({ operation: 'delete', outcome: 'ok' }),
          (e: Error) => {
            metrics.operations.inc({ operation: 'delete', outcome: 'failed' });
            log.error(
              { bucket: req.s3.bucket, key, err: e.message },
              'could not delete an upload of a failed checkpoint',
            );
          },
        );
      throw failure;
    } finally {
      release();
      admitted?.finished(sample);
      unadmitted?.finished(sample);
      deadline.dispose();
      scoped.release();
    }
  }

  async restore(req: RestoreRequest): Promise<RestoreResponse> {
    await this.requireCapability('restore');
    // The containers are those of the target pod; which ones is known only from the manifest, so the pod is the key.
    const unlock = this.operations.acquire([`${req.target.namespace}/${req.target.pod}/*`], 'restore');
    try {
      return await this.restoreLocked(req);
    } finally {
      unlock();
    }
  }

  private async restoreLocked(req: RestoreRequest): Promise<RestoreResponse> {
    const { runtime, metrics, log } = this.o;
    const scoped = this.scoped(req.credentials);
    const { store } = scoped;
    const deadline = deadlineSignal(req.deadline);
    const { signal } = deadline;
    const sinks: RestoreSink[] = [];
    try {
      const manifest = await this.readManifest(store, req, signal);
      let chosen: ContainerArchive[];
      try {
        chosen = withRequestDigests(selectContainers(manifest, req.containers), req.archives);
      } catch (err) {
        throw new AgentFailure('bad-request', (err as Error).message);
      }
      const cap = this.o.maxArchiveBytes ?? Number.MAX_SAFE_INTEGER;
      const tooLarge = chosen.find((a) => a.bytesRaw > cap || a.bytesCompressed > cap);
      if (tooLarge)
        throw new AgentFailure(
          'bad-request',
          `the archive of ${tooLarge.name} is ${Math.max(tooLarge.bytesRaw, tooLarge.bytesCompressed)} bytes, past this node's cap of ${cap}`,
        );
      // Every archive is downloaded and verified before any is restored: a pod comes back whole or not at all.
      const downloads: { archive: ContainerArchive; sink: RestoreSink; downloadMs: number }[] = [];
      for (const archive of chosen) {
        const t0 = performance.now();
        const sink = await runtime.prepareRestore(
          {
            namespace: req.target.namespace,
            pod: req.target.pod,
            container: archive.name,
            manifest,
            archive,
          },
          signal,
        );
        sinks.push(sink);
        const got = await streamArchiveFromStore(
          store,
          {
            bucket: req.manifest.bucket,
            key: archive.key,
            sha256: archive.sha256,
            bytesRaw: archive.bytesRaw,
          },
          sink,
          this.o.zstd.bin,
          signal,
        );
        const downloadMs = performance.now() - t0;
        metrics.stageSeconds.observe({ stage: 'download' }, downloadMs / 1000);
        metrics.bytes.inc({ direction: 'down', kind: 'compressed' }, got.bytesCompressed);
        metrics.bytes.inc({ direction: 'down', kind: 'raw' }, got.bytesRaw);
        downloads.push({ archive, sink, downloadMs });
      }
      const containers: RestoreResponse['containers'] = [];
      for (const d of downloads) {
        throwIfAborted(signal);
        const t0 = performance.now();
        sinks.splice(sinks.indexOf(d.sink), 1);
        const { image } = await d.sink.restore(signal);
        const restoreMs = performance.now() - t0;
        metrics.stageSeconds.observe({ stage: 'restore' }, restoreMs / 1000);
        containers.push({
          name: d.archive.name,
          ...(image ? { image } : {}),
          downloadMs: round(d.downloadMs),
          restoreMs: round(restoreMs),
        });
      }
      metrics.operations.inc({ operation: 'restore', outcome: 'ok' });
      log.info({ manifest: req.manifest, target: req.target, containers }, 'restored');
      return { runtime: runtime.name, node: this.o.node, containers };
    } catch (err) {
      const failure = asAgentFailure(err, signal, 'runtime-failed');
      metrics.operations.inc({ operation: 'restore', outcome: failure.code });
      log.warn(
        { manifest: req.manifest, error: failure.code, message: failure.message },
        'restore refused or failed',
      );
      for (const sink of sinks) await sink.discard().catch(() => {});
      throw failure;
    } finally {
      deadline.dispose();
      scoped.release();
    }
  }

  private async readManifest(
    store: ArchiveStore,
    req: RestoreRequest,
    signal: AbortSignal,
  ): Promise<Manifest> {
    let raw: unknown;
    try {
      raw = await store.getJson(req.manifest.bucket, req.manifest.key, signal);
    } catch (err) {
      if (signal.aborted) throw err;
      const name = (err as Error).name;
      if (name === 'NoSuchKey' || name === 'NoSuchBucket' || name === 'NotFound') {
        throw new AgentFailure('not-found', `no manifest at s3://${req.manifest.bucket}/${req.manifest.key}`);
      }
      if (err instanceof JsonTooLarge) throw new AgentFailure('bad-request', err.message);
      if (err instanceof SyntaxError) {
        throw new AgentFailure('bad-request', `s3://${req.manifest.bucket}/${req.manifest.key} is not JSON`);
      }
      throw new AgentFailure('storage-failed', `reading the manifest: ${(err as Error).message}`, {
        cause: err,
      });
    }
    const parsed = manifestSchema.safeParse(raw);
    if (!parsed.success) {
      throw new AgentFailure(
        'bad-request',
        `s3://${req.manifest.bucket}/${req.manifest.key} is not a valid manifest: ${parsed.error.issues
          .map((i) => `${i.path.join('.')}: ${i.message}`)
          .join('; ')}`,
      );
    }
    return parsed.data;
  }
}

/**
 * The archives to restore, with the key, sizes and sha256 the worker sent
 * (what the source agent answered) in place of the stored manifest's.
 */
function withRequestDigests(chosen: ContainerArchive[], digests: ArchiveDigest[]): ContainerArchive[] {
  return chosen.map((a) => {
    const d = digests.find((x) => x.name === a.name);
    if (!d) throw new Error(`the request carries no digest for container ${a.name}`);
    return { ...a, key: d.key, bytesRaw: d.bytesRaw, bytesCompressed: d.bytesCompressed, sha256: d.sha256 };
  });
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
