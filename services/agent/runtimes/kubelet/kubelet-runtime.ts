import { randomUUID } from 'node:crypto';
import { closeSync, createWriteStream, fstatSync, openSync } from 'node:fs';
import { access, mkdir, readdir, rm } from 'node:fs/promises';
import { arch } from 'node:os';
import { basename, join } from 'node:path';
import { finished } from 'node:stream/promises';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { ArchiveInspector, missingForRestore } from '../../archive-inspector.js';
import { resolveWithin } from '../../contained-path.js';
import type { ContainerOperations } from '../../container-operations.js';
import { AgentFailure } from '../../errors.js';
import { MeasuringStream } from '../../measuring-stream.js';
import type { NodeLayout } from '../../node-layout.js';
import { run } from '../../process.js';
import { criuVersionIn } from '../criu-version.js';
import type {
  CheckpointedContainer,
  CheckpointRuntime,
  ContainerRef,
  ReleaseTarget,
  RestoreSink,
  RestoreTarget,
} from '../runtime.js';
import {
  checkpointImageDocuments,
  checkpointImageTag,
  writeCheckpointImageLayout,
} from './checkpoint-image.js';
import type { ContainerFreezer } from './container-freezer.js';
import { containerKey, type FrozenContainers } from './frozen-containers.js';
import type { ImageImporter } from './image-importer.js';
import type { KubeletClient } from './kubelet-client.js';
import { kubeletArchivePrefix, watchForLateDump } from './late-dump-janitor.js';

/** The runtime's id of a pod's container (needed to find its cgroup). */
export interface ContainerIdResolver {
  containerId(namespace: string, pod: string, container: string): Promise<string>;
}

export class KubePodContainerIds implements ContainerIdResolver {
  private readonly core: CoreV1Api;

  constructor(kc: KubeConfig) {
    this.core = kc.makeApiClient(CoreV1Api);
  }

  async containerId(namespace: string, pod: string, container: string): Promise<string> {
    const p = await this.core.readNamespacedPod({ name: pod, namespace });
    const status = p.status?.containerStatuses?.find((s) => s.name === container);
    const id = status?.containerID?.replace(/^[a-z-]+:\/\//, '');
    if (!id)
      throw new AgentFailure(
        'not-found',
        `pod ${namespace}/${pod} reports no running container ${container}`,
      );
    return id;
  }
}

export interface KubeletRuntimeOptions {
  client: KubeletClient;
  freezer: ContainerFreezer & { isFrozen(containerId: string): Promise<boolean> };
  containerIds: ContainerIdResolver;
  /** Where the kubelet's checkpoint directory is mounted in the agent. */
  checkpointsDir: string;
  layout: NodeLayout;
  /** The importer for this node's runtime, resolved when an image is imported (see image-importer-factory.ts). */
  importer: () => Promise<ImageImporter>;
  imageRepository: string;
  /** CRIU as the node's runtime runs it (for the version recorded in manifests). */
  criu: string;
  /** What this agent froze, kept on the node across restarts. */
  frozen: FrozenContainers;
  operations: ContainerOperations;
  /** How long an abandoned kubelet checkpoint is watched for a late archive and a frozen container. */
  lateDumpWindowMs?: number;
  /** A container this agent froze is thawed after this long even if nobody released it. */
  maxFrozenMs?: number;
  /** Kubelet checkpoint timeout when the request has no deadline left to derive it from. */
  defaultTimeoutSeconds?: number;
  onWarning?: (msg: string, fields?: Record<string, unknown>) => void;
}

/** The kubelet's CRI wait (2 minutes, which ?timeout= can only lengthen) plus a margin. */
const DEFAULT_LATE_DUMP_WINDOW_MS = 150_000;
const DEFAULT_MAX_FROZEN_MS = 600_000;

/**
 * Production runtime: the kubelet checkpoints (CRI-O >= 1.25, containerd
 * >= 2.0), the agent freezes the source, streams the archive, and on the
 * target turns a verified archive into a checkpoint image the restored pod
 * uses (CRI-O >= 1.26, containerd 2.1-2.3).
 */
export class KubeletRuntime implements CheckpointRuntime {
  readonly name = 'kubelet' as const;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(private readonly o: KubeletRuntimeOptions) {}

  async criuVersion(): Promise<string> {
    const out = await run(this.o.criu, ['--version']).catch(() => '');
    return criuVersionIn(out) ?? 'unknown';
  }

  async ready(): Promise<true | string> {
    try {
      await access(this.o.checkpointsDir);
      return true;
    } catch {
      return `kubelet checkpoint directory ${this.o.checkpointsDir} is not mounted`;
    }
  }

  /**
   * At start-up: raw archives left in the kubelet's checkpoint directory (an
   * agent that died mid-upload) hold memory and secrets and go; containers
   * this agent froze are thawed once they have been frozen longer than any
   * migration takes, then checked again every minute. A younger one may
   * still be on its way to another node, and thawing it would run it twice.
   */
  async startUp(): Promise<{ removed: string[]; thawed: string[] }> {
    const names = await readdir(this.o.checkpointsDir).catch(() => [] as string[]);
    const removed: string[] = [];
    for (const name of names) {
      if (!/^checkpoint-.*\.tar$/.test(name)) continue;
      await rm(join(this.o.checkpointsDir, name), { force: true });
      removed.push(name);
    }
    const thawed = await this.thawExpired();
    this.sweeper = setInterval(() => {
      this.thawExpired().catch((err: Error) =>
        this.o.onWarning?.(`thawing expired containers: ${err.message}`),
      );
    }, 60_000);
    this.sweeper.unref();
    return { removed, thawed };
  }

  stop(): void {
    clearInterval(this.sweeper);
  }

  private async thawExpired(): Promise<string[]> {
    const maxMs = this.o.maxFrozenMs ?? DEFAULT_MAX_FROZEN_MS;
    const thawed: string[] = [];
    for (const f of this.o.frozen.list()) {
      if (Date.now() - Date.parse(f.frozenAt) < maxMs) continue;
      const key = containerKey(f);
      let release: () => void;
      try {
        release = this.o.operations.acquire([key], 'release');
      } catch {
        continue;
      }
      try {
        await this.thawRecorded(f.containerId, key);
        thawed.push(key);
        this.o.onWarning?.('thawed a container nobody released', { container: key, frozenAt: f.frozenAt });
      } finally {
        release();
      }
    }
    return thawed;
  }

  /** Thaws and forgets; a container that is gone (its pod deleted) is simply forgotten. */
  private async thawRecorded(containerId: string, key: string): Promise<boolean> {
    let thawed = true;
    try {
      await this.o.freezer.thaw(containerId);
    } catch (err) {
      if (!/no cgroup/.test((err as Error).message)) throw err;
      thawed = false;
    }
    await this.o.frozen.remove(key);
    return thawed;
  }

  async checkpoint(
    ref: ContainerRef,
    checkpointId: string,
    signal: AbortSignal,
    deadline?: Date,
  ): Promise<CheckpointedContainer> {
    const { client, freezer, frozen } = this.o;
    const key = containerKey(ref);
    const containerId = await this.o.containerIds.containerId(ref.namespace, ref.pod, ref.container);
    const timeoutSeconds = deadline
      ? Math.max(1, Math.floor((deadline.getTime() - Date.now()) / 1000))
      : (this.o.defaultTimeoutSeconds ?? 60);
    const since = new Date();
    let nodePath: string;
    try {
      // Aborted at the deadline by the agent itself: the kubelet's own wait is 2 minutes at least.
      nodePath = await client.checkpoint(ref.namespace, ref.pod, ref.container, timeoutSeconds, signal);
    } catch (err) {
      // A refused connection never reached the kubelet; anything else after sending may have started a dump.
      const neverSent = (err as NodeJS.ErrnoException)?.code === 'ECONNREFUSED';
      if (signal.aborted || (!(err instanceof AgentFailure) && !neverSent)) {
        // The node may still be dumping: its archive must not stay, nor the container stay frozen.
        const settled = watchForLateDump(
          {
            checkpointsDir: this.o.checkpointsDir,
            namespace: ref.namespace,
            pod: ref.pod,
            container: ref.container,
            containerId,
            since,
            windowMs: this.o.lateDumpWindowMs ?? DEFAULT_LATE_DUMP_WINDOW_MS,
            frozenByAgent: () => frozen.get(key) !== undefined,
          },
          freezer,
        ).then((report) => {
          if (report.removed.length > 0 || report.thawed > 0)
            this.o.onWarning?.('cleaned up after an abandoned kubelet checkpoint', {
              container: key,
              ...report,
            });
        });
        this.o.operations.linger(key, settled);
      }
      throw err;
    }
    const local = resolveWithin(this.o.checkpointsDir, basename(nodePath));
    const drop = () => rm(local, { force: true });
    // The kubelet leaves the source running: stop it before it does work the restored copy would repeat.
    try {
      await freezer.freeze(containerId);
      await frozen.add({
        namespace: ref.namespace,
        pod: ref.pod,
        podUid: ref.podUid,
        container: ref.container,
        containerId,
        checkpointId,
        frozenAt: new Date().toISOString(),
      });
    } catch (err) {
      await freezer.thaw(containerId).catch(() => {});
      await frozen.remove(key).catch(() => {});
      await drop();
      throw new AgentFailure(
        'runtime-failed',
        `could not freeze ${ref.container} after its checkpoint: ${(err as Error).message}`,
      );
    }
    return {
      input: () => {
        const fd = openSync(local, 'r');
        let open = true;
        return {
          stdin: fd,
          done: Promise.resolve(fstatSync(fd).size),
          close: () => {
            if (open) closeSync(fd);
            open = false;
          },
        };
      },
      // Archives hold memory and secrets: none stays on the node once it is in S3. The source stays frozen until released.
      commit: drop,
      rollback: async () => {
        try {
          await this.thawRecorded(containerId, key);
        } finally {
          await drop();
        }
      },
    };
  }

  /** Thaws a container this agent froze for `target.checkpointId` and removes its raw archives; idempotent. */
  async release(target: ReleaseTarget): Promise<boolean> {
    const key = containerKey(target);
    const prefix = kubeletArchivePrefix(target.namespace, target.pod, target.container);
    for (const name of await readdir(this.o.checkpointsDir).catch(() => [] as string[])) {
      if (name.startsWith(prefix)) await rm(join(this.o.checkpointsDir, name), { force: true });
    }
    const record = this.o.frozen.get(key);
    if (!record) return false;
    if (record.podUid !== target.podUid) {
      throw new AgentFailure(
        'conflict',
        `${key} was frozen for pod uid ${record.podUid}, not ${target.podUid}: not releasing another pod's container`,
      );
    }
    return this.thawRecorded(record.containerId, key);
  }

  async prepareRestore(target: RestoreTarget, _signal: AbortSignal): Promise<RestoreSink> {
    const staging = this.o.layout.restoreDir(
      `${target.manifest.checkpointId}-${target.container}-${randomUUID().slice(0, 8)}`,
    );
    await mkdir(staging, { recursive: true });
    const archiveFile = join(staging, 'checkpoint.tar');
    const inspector = new ArchiveInspector();
    const layer = new MeasuringStream({ sha256: true });
    layer.on('data', (chunk: Buffer) => inspector.update(chunk));
    const file = createWriteStream(archiveFile);
    layer.pipe(file);
    const written = finished(file);
    written.catch(() => {});
    const discard = async () => {
      layer.destroy();
      file.destroy();
      await rm(staging, { recursive: true, force: true });
    };
    return {
      writable: layer,
      written: () => written,
      discard,
      restore: async () => {
        try {
          const facts = inspector.finish();
          if (facts.problem)
            throw new AgentFailure('bad-request', `not a checkpoint archive: ${facts.problem}`);
          const missing = missingForRestore(facts);
          if (missing.length > 0)
            throw new AgentFailure('bad-request', `the checkpoint archive lacks ${missing.join(', ')}`);
          const importer = await this.o.importer();
          const tag = checkpointImageTag(
            target.namespace,
            target.pod,
            target.container,
            target.manifest.checkpointId,
          );
          const ref = `${this.o.imageRepository}:${tag}`;
          const docs = checkpointImageDocuments({
            layerSha256: layer.sha256(),
            layerSize: layer.bytes,
            containerName: target.container,
            tag,
            created: new Date().toISOString(),
            architecture: arch() === 'x64' ? 'amd64' : arch(),
          });
          const layoutDir = join(staging, 'image');
          await writeCheckpointImageLayout(layoutDir, archiveFile, docs, layer.sha256());
          const image = await importer.import(layoutDir, ref);
          await rm(staging, { recursive: true, force: true });
          return { image };
        } catch (err) {
          await discard();
          if (err instanceof AgentFailure) throw err;
          throw new AgentFailure(
            'runtime-failed',
            `importing the checkpoint image failed: ${(err as Error).message}`,
            {
              cause: err,
            },
          );
        }
      },
    };
  }
}
