import { randomUUID } from 'node:crypto';
import { closeSync, createWriteStream, fstatSync, openSync } from 'node:fs';
import { access, mkdir, rm } from 'node:fs/promises';
import { arch } from 'node:os';
import { basename, join } from 'node:path';
import { finished } from 'node:stream/promises';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import {
  checkpointImageDocuments,
  checkpointImageTag,
  writeCheckpointImageLayout,
} from './checkpoint-image.js';
import type { ContainerFreezer } from './container-freezer.js';
import { AgentFailure } from './errors.js';
import type { ImageImporter } from './image-importer.js';
import type { KubeletClient } from './kubelet-client.js';
import { MeasuringStream } from './measuring-stream.js';
import type { NodeLayout } from './node-layout.js';
import { run } from './process.js';
import type {
  CheckpointedContainer,
  CheckpointRuntime,
  ContainerRef,
  RestoreSink,
  RestoreTarget,
} from './runtime.js';

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
  freezer: ContainerFreezer;
  containerIds: ContainerIdResolver;
  /** Where the kubelet's checkpoint directory is mounted in the agent. */
  checkpointsDir: string;
  layout: NodeLayout;
  importer: ImageImporter;
  imageRepository: string;
  criu: string;
  /** Kubelet checkpoint timeout when the request has no deadline left to derive it from. */
  defaultTimeoutSeconds?: number;
}

/**
 * Production runtime: the kubelet checkpoints (CRI-O >= 1.30, containerd
 * 2.1-2.3), the agent freezes the source, streams the archive, and on the
 * target turns a verified archive into a checkpoint image the restored pod uses.
 */
export class KubeletRuntime implements CheckpointRuntime {
  readonly name = 'kubelet' as const;

  constructor(private readonly o: KubeletRuntimeOptions) {}

  async criuVersion(): Promise<string> {
    // CRIU runs inside the node's container runtime; the agent image may not ship it.
    const out = await run(this.o.criu, ['--version']).catch(() => '');
    return /Version:\s*(\S+)/.exec(out)?.[1] ?? 'unknown';
  }

  async ready(): Promise<true | string> {
    try {
      await access(this.o.checkpointsDir);
      return true;
    } catch {
      return `kubelet checkpoint directory ${this.o.checkpointsDir} is not mounted`;
    }
  }

  async checkpoint(
    ref: ContainerRef,
    _checkpointId: string,
    signal: AbortSignal,
    deadline?: Date,
  ): Promise<CheckpointedContainer> {
    const { client, freezer } = this.o;
    const containerId = await this.o.containerIds.containerId(ref.namespace, ref.pod, ref.container);
    const timeoutSeconds = deadline
      ? Math.max(1, Math.floor((deadline.getTime() - Date.now()) / 1000))
      : (this.o.defaultTimeoutSeconds ?? 60);
    const nodePath = await client.checkpoint(ref.namespace, ref.pod, ref.container, timeoutSeconds, signal);
    // The kubelet leaves the source running: stop it before it does work the restored copy would repeat.
    try {
      await freezer.freeze(containerId);
    } catch (err) {
      throw new AgentFailure(
        'runtime-failed',
        `could not freeze ${ref.container} after its checkpoint: ${(err as Error).message}`,
      );
    }
    const local = join(this.o.checkpointsDir, basename(nodePath));
    const drop = () => rm(local, { force: true });
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
      // Archives hold memory and secrets: none stays on the node once it is in S3.
      commit: drop,
      rollback: async () => {
        try {
          await freezer.thaw(containerId);
        } finally {
          await drop();
        }
      },
    };
  }

  async prepareRestore(target: RestoreTarget, _signal: AbortSignal): Promise<RestoreSink> {
    const staging = this.o.layout.restoreDir(
      `${target.manifest.checkpointId}-${target.container}-${randomUUID().slice(0, 8)}`,
    );
    await mkdir(staging, { recursive: true });
    const archiveFile = join(staging, 'checkpoint.tar');
    const layer = new MeasuringStream({ sha256: true });
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
          const image = await this.o.importer.import(layoutDir, ref);
          await rm(staging, { recursive: true, force: true });
          return { image };
        } catch (err) {
          await discard();
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
