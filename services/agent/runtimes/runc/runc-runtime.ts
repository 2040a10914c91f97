import { randomUUID } from 'node:crypto';
import { access, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Readable, Transform } from 'node:stream';
import { z } from 'zod';
import { ArchiveInspector, missingForRestore } from '../../archive-inspector.js';
import { type ConfigDump, LAYOUT } from '../../archive-layout.js';
import { realPathWithin, resolveWithin } from '../../contained-path.js';
import { AgentFailure } from '../../errors.js';
import { type NodeLayout, runcIdOf } from '../../node-layout.js';
import { processOutput, processReading, run } from '../../process.js';
import { criuVersionIn } from '../criu-version.js';
import type {
  CheckpointedContainer,
  CheckpointRuntime,
  ContainerRef,
  ReleaseTarget,
  RestoreSink,
  RestoreTarget,
} from '../runtime.js';
import type { LocalContainers } from './local-containers.js';
import { type OciSpec, specForRestore } from './oci-spec.js';
import { diffListings, type Listing, listRootfs } from './rootfs-diff.js';
import type { Runc } from './runc-cli.js';

export interface RuncRuntimeOptions {
  node: string;
  layout: NodeLayout;
  runc: Runc;
  containers: LocalContainers;
  baseRootfs: string;
  tarBin: string;
}

const READY_CACHE_MS = 30_000;

/**
 * Local runtime: containers run by runc on this (simulated) node, dumped and
 * restored with CRIU, archived in the kubelet/checkpointctl layout.
 */
export class RuncRuntime implements CheckpointRuntime {
  readonly name = 'runc' as const;
  private baseListing: Promise<Listing> | undefined;
  private readyCache: { at: number; value: true | string } | undefined;

  constructor(private readonly o: RuncRuntimeOptions) {}

  async criuVersion(): Promise<string> {
    const out = await run(this.o.runc.criu, ['--version']);
    return criuVersionIn(out) ?? out.trim();
  }

  async ready(): Promise<true | string> {
    if (this.readyCache && Date.now() - this.readyCache.at < READY_CACHE_MS) return this.readyCache.value;
    let value: true | string;
    try {
      await run(this.o.runc.criu, ['check']);
      await run(this.o.runc.bin, ['--version']);
      value = true;
    } catch (err) {
      value = `criu check failed: ${(err as Error).message}`;
    }
    this.readyCache = { at: Date.now(), value };
    return value;
  }

  private base(): Promise<Listing> {
    this.baseListing ??= listRootfs(this.o.baseRootfs);
    return this.baseListing;
  }

  async checkpoint(
    ref: ContainerRef,
    checkpointId: string,
    signal: AbortSignal,
  ): Promise<CheckpointedContainer> {
    const { runc, containers, layout, tarBin } = this.o;
    const record = await containers.read(ref.namespace, ref.pod, ref.container);
    if (!record)
      throw new AgentFailure('not-found', `no container ${ref.namespace}/${ref.pod}/${ref.container} here`);
    // A restored container keeps the uid of the pod it came from; only a started one is held to it.
    if (!record.restoredFrom && record.podUid !== ref.podUid) {
      throw new AgentFailure(
        'not-found',
        `pod ${ref.namespace}/${ref.pod} here has uid ${record.podUid}, not ${ref.podUid}`,
      );
    }
    const id = record.runcId;
    const state = await runc.state(id);
    if (state?.status !== 'running') {
      throw new AgentFailure(
        'runtime-failed',
        `container ${id} is ${state?.status ?? 'not running'}, cannot checkpoint it`,
      );
    }
    const dir = layout.checkpointDir(checkpointId, ref.container);
    await rm(dir, { recursive: true, force: true });
    const imageDir = join(dir, LAYOUT.checkpointDir);
    const workDir = join(dir, 'work');
    await mkdir(imageDir, { recursive: true });
    await mkdir(workDir, { recursive: true });
    const bundle = containers.bundleOf(id);
    const rollback = () => this.ensureRunning(id, bundle, imageDir, dir);
    const checkpointedAt = new Date();
    try {
      // The container's spec names this file; it must be there for CRIU to close TCP connections.
      await containers.criuConfigFile();
      // Not leave-running: once the dump is complete the original is gone, so it cannot do work twice.
      await runc.checkpoint(id, imageDir, workDir, join(dir, 'runc.log'), signal);
      const spec = await readFile(join(bundle, 'config.json'), 'utf8');
      await writeFile(join(dir, LAYOUT.specDump), spec);
      const configDump: ConfigDump = {
        id,
        name: ref.container,
        rootfsImage: 'spot-rescue/rootfs',
        rootfsImageName: 'spot-rescue/rootfs',
        runtime: 'runc',
        createdTime: record.createdAt,
        checkpointedTime: checkpointedAt.toISOString(),
      };
      await writeFile(join(dir, LAYOUT.configDump), JSON.stringify(configDump, null, 2));
      await this.writeRootfsDiff(join(bundle, 'rootfs'), dir);
    } catch (err) {
      await rollback().catch(() => {});
      throw signal.aborted
        ? signal.reason
        : new AgentFailure('runtime-failed', `checkpoint of ${id} failed: ${(err as Error).message}`, {
            cause: err,
          });
    }
    const members = [
      LAYOUT.checkpointDir,
      LAYOUT.configDump,
      LAYOUT.specDump,
      LAYOUT.rootfsDiff,
      LAYOUT.deletedFiles,
    ];
    return {
      input: () => {
        // GNU tar's --totals gives the archive's exact size on stderr once it is written.
        const tar = processOutput(tarBin, ['-C', dir, '--totals', '-cf', '-', ...members]);
        return {
          stdin: tar.stdout,
          done: tar.exited.then(() => {
            const size = /Total bytes written: (\d+)/.exec(tar.stderr())?.[1];
            if (size === undefined) throw new Error(`tar reported no total: ${tar.stderr().slice(-200)}`);
            return Number(size);
          }),
          close: tar.kill,
        };
      },
      commit: async () => {
        await containers.write({ ...record, checkpointedAt: checkpointedAt.toISOString() });
        await rm(dir, { recursive: true, force: true });
      },
      rollback: async () => {
        try {
          await rollback();
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      },
    };
  }

  /**
   * runc checkpoints without leave-running: the original is gone once its
   * dump completed, so nothing is frozen; only a dump directory an
   * interrupted checkpoint left behind is removed.
   */
  async release(target: ReleaseTarget): Promise<boolean> {
    await rm(this.o.layout.checkpointDir(target.checkpointId, target.container), {
      recursive: true,
      force: true,
    });
    return false;
  }

  /** rootfs-diff.tar and deleted.files: the container's changes to its root filesystem. */
  private async writeRootfsDiff(rootfs: string, dir: string): Promise<void> {
    const diff = diffListings(await this.base(), await listRootfs(rootfs));
    const list = join(dir, 'rootfs-diff.list');
    await writeFile(list, diff.changed.map((p) => `${p}\0`).join(''));
    await run(this.o.tarBin, [
      '-C',
      rootfs,
      '--no-recursion',
      '--null',
      '-T',
      list,
      '-cf',
      join(dir, LAYOUT.rootfsDiff),
    ]);
    await rm(list);
    await writeFile(join(dir, LAYOUT.deletedFiles), JSON.stringify(diff.deleted));
  }

  /**
   * After an abandoned or failed checkpoint the container must be running
   * as before (the caller falls back to an ordinary eviction): resume it if
   * CRIU left it frozen, restore it from the dump if the dump had completed.
   */
  private async ensureRunning(id: string, bundle: string, imageDir: string, dir: string): Promise<void> {
    const { runc } = this.o;
    const state = await runc.state(id);
    if (state?.status === 'running') return;
    if (state?.status === 'paused') return runc.resume(id);
    if (state) await runc.remove(id);
    const complete = await access(join(imageDir, 'inventory.img')).then(
      () => true,
      () => false,
    );
    if (!complete) throw new Error(`container ${id} is gone and its dump is incomplete`);
    const workDir = join(dir, 'rollback-work');
    await mkdir(workDir, { recursive: true });
    await this.o.containers.criuConfigFile();
    await runc.restoreDetached(id, bundle, imageDir, workDir, join(dir, 'rollback.log'));
  }

  async prepareRestore(target: RestoreTarget, _signal: AbortSignal): Promise<RestoreSink> {
    const { runc, containers, layout, tarBin, node } = this.o;
    const id = runcIdOf(target.namespace, target.pod, target.container);
    if (await runc.state(id)) {
      throw new AgentFailure(
        'already-exists',
        `container ${id} already exists on ${node}; not restoring over it`,
      );
    }
    const staging = layout.restoreDir(
      `${target.manifest.checkpointId}-${target.container}-${randomUUID().slice(0, 8)}`,
    );
    await mkdir(staging, { recursive: true });
    const inspector = new ArchiveInspector();
    // tar -x starts when the pipeline hands it zstd's stdout.
    let unpack: { exited: Promise<void>; kill(): void } | undefined;
    // The new bundle's root filesystem is copied while the archive downloads, off the critical path.
    const bundle = containers.bundleOf(id);
    const populated = rm(layout.containerDir(id), { recursive: true, force: true }).then(() =>
      containers.populateRootfs(bundle),
    );
    populated.catch(() => {});
    const discard = async () => {
      unpack?.kill();
      await unpack?.exited.catch(() => {});
      await populated.catch(() => {});
      await rm(staging, { recursive: true, force: true });
      await rm(layout.containerDir(id), { recursive: true, force: true });
    };
    return {
      unpackFrom: async (stdin: Readable) => {
        // What the archive holds is learnt on the way past; restore() refuses it before using any of it.
        const inspected = stdin.pipe(
          new Transform({
            transform(chunk: Buffer, _enc, cb) {
              inspector.update(chunk);
              cb(null, chunk);
            },
          }),
        );
        stdin.once('error', (err) => inspected.destroy(err));
        const tar = processReading(tarBin, ['-C', staging, '--totals', '-xf', '-'], inspected);
        unpack = tar;
        await tar.exited;
        const size = /Total bytes read: (\d+)/.exec(tar.stderr())?.[1];
        if (size === undefined) throw new Error(`tar reported no total: ${tar.stderr().slice(-200)}`);
        return Number(size);
      },
      discard,
      restore: async (signal: AbortSignal) => {
        try {
          await populated;
          const facts = inspector.finish();
          if (facts.problem)
            throw new AgentFailure('bad-request', `not a checkpoint archive: ${facts.problem}`);
          const missing = missingForRestore(facts);
          if (missing.length > 0)
            throw new AgentFailure('bad-request', `the checkpoint archive lacks ${missing.join(', ')}`);
          const rootfs = join(bundle, 'rootfs');
          const diff = join(staging, LAYOUT.rootfsDiff);
          // Every entry is checked before one is written: a refused archive changes nothing.
          for (const member of await tarMembers(tarBin, diff)) {
            // The root itself (`./`) is the one entry that may name it.
            if (member.replace(/^(\.\/)+/, '') !== '' && member !== '.') resolveWithin(rootfs, member);
          }
          const deleted = deletedFilesOf(facts.files.get(LAYOUT.deletedFiles));
          for (const path of deleted) resolveWithin(rootfs, path);
          await run(tarBin, ['-C', rootfs, '-xf', diff]);
          // The diff may have made links: each removal is resolved again, through them, and must stay inside.
          for (const path of deleted) {
            const real = await realPathWithin(rootfs, path);
            if (real) await rm(real, { recursive: true, force: true });
          }
          const dumped = JSON.parse(await readFile(join(staging, LAYOUT.specDump), 'utf8')) as OciSpec;
          // This node's CRIU configuration (tcp-close, which the image demands) and hooks, not the source's.
          const spec = specForRestore(
            dumped,
            containers.cgroupOf(id, node),
            await containers.criuConfigFile(),
          );
          await writeFile(join(bundle, 'config.json'), JSON.stringify(spec, null, 2));
          const workDir = join(staging, 'work');
          await mkdir(workDir, { recursive: true });
          await runc.restoreDetached(
            id,
            bundle,
            join(staging, LAYOUT.checkpointDir),
            workDir,
            join(staging, 'runc.log'),
            signal,
          );
          await containers.write({
            namespace: target.namespace,
            pod: target.pod,
            podUid: target.manifest.podUid,
            container: target.container,
            runcId: id,
            createdAt: new Date().toISOString(),
            restoredFrom: {
              checkpointId: target.manifest.checkpointId,
              sourceNode: target.manifest.sourceNode,
            },
          });
          await rm(staging, { recursive: true, force: true });
          return {};
        } catch (err) {
          await runc.remove(id).catch(() => {});
          await rm(layout.containerDir(id), { recursive: true, force: true });
          await discard();
          if (signal.aborted) throw signal.reason;
          if (err instanceof AgentFailure) throw err;
          throw new AgentFailure('runtime-failed', `restore of ${id} failed: ${(err as Error).message}`, {
            cause: err,
          });
        }
      },
    };
  }
}

/** deleted.files: a JSON list of paths relative to the root filesystem (absent: nothing was deleted). */
const deletedFilesSchema = z.array(z.string().min(1).max(4096)).max(1_000_000);

function deletedFilesOf(bytes: Buffer | undefined): string[] {
  if (bytes === undefined) return [];
  let raw: unknown;
  try {
    raw = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new AgentFailure('bad-request', `${LAYOUT.deletedFiles} is not JSON`);
  }
  const r = deletedFilesSchema.safeParse(raw);
  if (!r.success) throw new AgentFailure('bad-request', `${LAYOUT.deletedFiles} is not a list of paths`);
  return r.data;
}

/** The member names of a tar file, as GNU tar lists them (literally, one a line). */
async function tarMembers(tarBin: string, file: string): Promise<string[]> {
  const out = await run(tarBin, ['--quoting-style=literal', '-tf', file]);
  return out.split('\n').filter((n) => n !== '');
}
