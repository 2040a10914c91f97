import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** The kubelet's archive name: checkpoint-<pod>_<namespace>-<container>-<RFC 3339 time>.tar */
export function kubeletArchivePrefix(namespace: string, pod: string, container: string): string {
  return `checkpoint-${pod}_${namespace}-${container}-`;
}

export interface JanitorFreezer {
  isFrozen(containerId: string): Promise<boolean>;
  thaw(containerId: string): Promise<void>;
}

export interface LateDumpWatch {
  checkpointsDir: string;
  namespace: string;
  pod: string;
  container: string;
  containerId: string;
  /** When the abandoned request was sent: only archives written since then are its. */
  since: Date;
  /** How long the kubelet may still be at it: its CRI wait is 2 minutes whatever `?timeout=` says. */
  windowMs: number;
  pollMs?: number;
  /** True while this agent itself holds the container frozen (then it is not the dump's freeze). */
  frozenByAgent(): boolean;
}

export interface JanitorReport {
  removed: string[];
  thawed: number;
}

/**
 * After the agent gave up on a kubelet checkpoint at its deadline, the
 * kubelet and containerd may still be dumping: the archive can land minutes
 * later (it holds the pod's memory and secrets, so it must go) and a dump cut
 * short can leave the container's cgroup frozen. Until the window closes this
 * removes each late archive for the container and thaws the container if it
 * is frozen by anyone but the agent. It ends early once an archive was
 * removed and the container runs.
 */
export async function watchForLateDump(
  w: LateDumpWatch,
  freezer: JanitorFreezer,
  onError: (err: Error) => void = () => {},
): Promise<JanitorReport> {
  const prefix = kubeletArchivePrefix(w.namespace, w.pod, w.container);
  const end = Date.now() + w.windowMs;
  const report: JanitorReport = { removed: [], thawed: 0 };
  const sweep = async (): Promise<{ frozen: boolean }> => {
    const names = await readdir(w.checkpointsDir).catch(() => [] as string[]);
    for (const name of names) {
      if (!name.startsWith(prefix)) continue;
      const path = join(w.checkpointsDir, name);
      const st = await stat(path).catch(() => undefined);
      // Allow for a coarse clock on the node's filesystem.
      if (!st || st.mtimeMs < w.since.getTime() - 2_000) continue;
      await rm(path, { force: true });
      report.removed.push(name);
    }
    let frozen = false;
    try {
      frozen = !w.frozenByAgent() && (await freezer.isFrozen(w.containerId));
      if (frozen) {
        await freezer.thaw(w.containerId);
        report.thawed++;
      }
    } catch (err) {
      // The container may be gone (its pod deleted): nothing left to thaw.
      onError(err as Error);
    }
    return { frozen };
  };
  for (;;) {
    const { frozen } = await sweep();
    if ((report.removed.length > 0 && !frozen) || Date.now() >= end) break;
    await new Promise((r) => setTimeout(r, w.pollMs ?? 500));
  }
  return report;
}
