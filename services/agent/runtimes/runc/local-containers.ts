import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { checkpointIdSchema } from '../../../common/agent-api.js';
import {
  containerNameSchema,
  namespaceNameSchema,
  nodeNameSchema,
  podNameSchema,
  podUidSchema,
} from '../../../common/kube-names.js';
import { AgentFailure } from '../../errors.js';
import { type NodeLayout, runcIdOf } from '../../node-layout.js';
import { run } from '../../process.js';
import { containerSpec } from './oci-spec.js';
import { type Runc, type RuncState, writeCriuConfig } from './runc-cli.js';

/** A pod's container on this node, as named in the local containers' URLs. */
export const localContainerKeySchema = z.object({
  namespace: namespaceNameSchema,
  pod: podNameSchema,
  container: containerNameSchema,
});

/** The same container of one pod's life: the key and the pod's uid (a pod of that name created again has another). */
const podContainerSchema = localContainerKeySchema.extend({ podUid: podUidSchema });

/** POST /v1/local/containers: start a pod's container on this node (the runc runtime's kubelet stand-in). */
export const startContainerSchema = podContainerSchema.extend({
  args: z.array(z.string()).min(1).default(['/usr/local/bin/counter', '64', '/state/progress']),
  memoryMiB: z.number().int().positive().max(65536).optional(),
});
export type StartContainer = z.infer<typeof startContainerSchema>;

const recordSchema = podContainerSchema.extend({
  runcId: z.string(),
  createdAt: z.string(),
  checkpointedAt: z.string().optional(),
  restoredFrom: z.object({ checkpointId: checkpointIdSchema, sourceNode: nodeNameSchema }).optional(),
});
export type ContainerRecord = z.infer<typeof recordSchema>;

export interface ContainerStatus {
  record: ContainerRecord;
  /** runc's status, or `checkpointed` once the container was dumped and moved away. */
  status: RuncState['status'] | 'checkpointed' | 'absent';
  pid?: number;
  /** The workload's progress file (/state/progress), when it has one. */
  progress?: string;
}

/**
 * The containers this node runs with runc: bundle + record per container,
 * under the node's own state dir.
 */
export class LocalContainers {
  private criuConfig: Promise<string> | undefined;

  constructor(
    private readonly layout: NodeLayout,
    private readonly runc: Runc,
    private readonly baseRootfs: string,
  ) {}

  /**
   * This node's CRIU configuration file, written once per process (so a new
   * agent version's options replace an old file) before any container of
   * the node is started, restored or dumped.
   */
  criuConfigFile(): Promise<string> {
    this.criuConfig ??= writeCriuConfig(this.layout.criuConfigFile).then(
      () => this.layout.criuConfigFile,
      (err: unknown) => {
        this.criuConfig = undefined;
        throw err;
      },
    );
    return this.criuConfig;
  }

  bundleOf(runcId: string): string {
    return join(this.layout.containerDir(runcId), 'bundle');
  }

  cgroupOf(runcId: string, node: string): string {
    return `/spot-rescue/${node}/${runcId}`;
  }

  async read(namespace: string, pod: string, container: string): Promise<ContainerRecord | undefined> {
    const id = runcIdOf(namespace, pod, container);
    try {
      return recordSchema.parse(
        JSON.parse(await readFile(join(this.layout.containerDir(id), 'record.json'), 'utf8')),
      );
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async write(record: ContainerRecord): Promise<void> {
    const dir = this.layout.containerDir(record.runcId);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'record.json.tmp'), JSON.stringify(record, null, 2));
    await rename(join(dir, 'record.json.tmp'), join(dir, 'record.json'));
  }

  /** Copies the base root filesystem into a bundle (cp keeps ownership, modes and times). */
  async populateRootfs(bundle: string): Promise<void> {
    await mkdir(bundle, { recursive: true });
    await run('cp', ['-a', this.baseRootfs, join(bundle, 'rootfs')]);
  }

  async start(req: StartContainer, node: string): Promise<ContainerStatus> {
    const id = runcIdOf(req.namespace, req.pod, req.container);
    const existing = await this.runc.state(id);
    if (existing)
      throw new AgentFailure('bad-request', `container ${id} already exists on ${node} (${existing.status})`);
    const dir = this.layout.containerDir(id);
    await rm(dir, { recursive: true, force: true });
    const bundle = this.bundleOf(id);
    await this.populateRootfs(bundle);
    const spec = containerSpec({
      args: req.args,
      memoryMiB: req.memoryMiB,
      hostname: req.pod.slice(0, 63),
      cgroupsPath: this.cgroupOf(id, node),
      criuConfigFile: await this.criuConfigFile(),
    });
    await writeFile(join(bundle, 'config.json'), JSON.stringify(spec, null, 2));
    try {
      await this.runc.runDetached(id, bundle, join(dir, 'runc.log'));
    } catch (err) {
      throw new AgentFailure('runtime-failed', `starting ${id}: ${(err as Error).message}`, { cause: err });
    }
    const record: ContainerRecord = {
      namespace: req.namespace,
      pod: req.pod,
      podUid: req.podUid,
      container: req.container,
      runcId: id,
      createdAt: new Date().toISOString(),
    };
    await this.write(record);
    return this.status(req.namespace, req.pod, req.container);
  }

  async status(namespace: string, pod: string, container: string): Promise<ContainerStatus> {
    const record = await this.read(namespace, pod, container);
    if (!record)
      throw new AgentFailure('not-found', `no container ${namespace}/${pod}/${container} on this node`);
    const state = await this.runc.state(record.runcId);
    const progress = await readFile(
      join(this.bundleOf(record.runcId), 'rootfs', 'state', 'progress'),
      'utf8',
    ).catch(() => undefined);
    const status: ContainerStatus['status'] = state
      ? state.status
      : record.checkpointedAt
        ? 'checkpointed'
        : 'absent';
    return {
      record,
      status,
      ...(state && state.pid > 0 ? { pid: state.pid } : {}),
      ...(progress !== undefined ? { progress: progress.trim() } : {}),
    };
  }

  async remove(namespace: string, pod: string, container: string): Promise<void> {
    const id = runcIdOf(namespace, pod, container);
    await this.runc.remove(id);
    await rm(this.layout.containerDir(id), { recursive: true, force: true });
  }
}

/** `counter=N mib=M ...` as numbers; the counter workload's progress line. */
export function parseProgress(line: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of line.trim().split(/\s+/)) {
    const [k, v] = part.split('=');
    if (k && v !== undefined && /^-?\d+$/.test(v)) out[k] = Number(v);
  }
  return out;
}
