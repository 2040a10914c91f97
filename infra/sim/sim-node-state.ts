import { execFile } from 'node:child_process';
import { readdir, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

/**
 * Simulation only. On EKS a node that goes takes its containers, files and
 * cgroups with it; a simulated node's all live on this machine, under the
 * stack's state directory and /sys/fs/cgroup, and stay until removed here.
 */

/**
 * Removes every runc container of these simulated nodes, their files and
 * their (then empty) cgroups.
 * A pod deleted while its container ran (evicted, or a test that failed
 * half-way) leaves the process behind: nothing plays the kubelet that would
 * stop it.
 */
export async function removeSimNodeState(stateDir: string, nodes: string[]): Promise<void> {
  const run = promisify(execFile);
  const runc = process.env['SPOT_RESCUE_RUNC'] ?? 'runc';
  for (const node of nodes) {
    const root = join(stateDir, 'nodes', node, 'runc');
    const { stdout } = await run(runc, ['--root', root, 'list', '--quiet']).catch(() => ({ stdout: '' }));
    for (const id of stdout.split('\n').filter(Boolean))
      await run(runc, ['--root', root, 'delete', '--force', id]).catch(() => undefined);
    await rm(join(stateDir, 'nodes', node), { recursive: true, force: true });
    const controllers = await readdir('/sys/fs/cgroup').catch(() => []);
    for (const c of ['', ...controllers])
      await rmdir(join('/sys/fs/cgroup', c, 'spot-rescue', node)).catch(() => {});
  }
}
