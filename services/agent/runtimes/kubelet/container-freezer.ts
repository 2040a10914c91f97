import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The kubelet leaves a checkpointed container running; freezing its cgroup
 * right after the dump stops it from doing work (or answering requests) that
 * the restored copy would do again.
 */
export interface ContainerFreezer {
  freeze(containerId: string): Promise<void>;
  thaw(containerId: string): Promise<void>;
}

/**
 * Finds a container's cgroup by its id (runtimes name it cri-containerd-<id>.scope,
 * crio-<id>.scope or just <id>) and uses cgroup v2's cgroup.freeze, or the v1
 * freezer controller.
 */
export class CgroupFreezer implements ContainerFreezer {
  constructor(private readonly root: string) {}

  async freeze(containerId: string): Promise<void> {
    await this.set(containerId, true);
  }

  async thaw(containerId: string): Promise<void> {
    await this.set(containerId, false);
  }

  private async set(containerId: string, frozen: boolean): Promise<void> {
    const v2 = await exists(join(this.root, 'cgroup.controllers'));
    const base = v2 ? this.root : join(this.root, 'freezer');
    const dir = await findCgroup(base, containerId);
    if (!dir) throw new Error(`no cgroup for container ${containerId} under ${base}`);
    if (v2) await writeFile(join(dir, 'cgroup.freeze'), frozen ? '1' : '0');
    else await writeFile(join(dir, 'freezer.state'), frozen ? 'FROZEN' : 'THAWED');
    // Freezing takes effect asynchronously (v1 passes through FREEZING): done means every task stopped.
    const end = Date.now() + 5_000;
    while ((await this.stateOf(dir, v2)) !== frozen) {
      if (Date.now() > end)
        throw new Error(`container ${containerId} did not ${frozen ? 'freeze' : 'thaw'} within 5 s`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  private async stateOf(dir: string, v2: boolean): Promise<boolean> {
    if (v2) return /^frozen 1$/m.test(await readFile(join(dir, 'cgroup.events'), 'utf8'));
    return (await readFile(join(dir, 'freezer.state'), 'utf8')).trim() === 'FROZEN';
  }

  async isFrozen(containerId: string): Promise<boolean> {
    const v2 = await exists(join(this.root, 'cgroup.controllers'));
    const base = v2 ? this.root : join(this.root, 'freezer');
    const dir = await findCgroup(base, containerId);
    if (!dir) throw new Error(`no cgroup for container ${containerId} under ${base}`);
    return this.stateOf(dir, v2);
  }
}

/** Breadth-first: pod cgroups sit a few levels down (kubepods.slice/.../<container>). */
async function findCgroup(base: string, containerId: string, maxDepth = 6): Promise<string | undefined> {
  let level = [base];
  for (let depth = 0; depth < maxDepth && level.length > 0; depth++) {
    const next: string[] = [];
    for (const dir of level) {
      const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
      for (const e of entries) {
        if (!e.isDirectory()) continue;
        if (e.name.includes(containerId)) return join(dir, e.name);
        next.push(join(dir, e.name));
      }
    }
    level = next;
  }
  return undefined;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
