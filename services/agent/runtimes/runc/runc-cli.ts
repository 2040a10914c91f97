import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CommandError, type RunOptions, run } from '../../process.js';

export interface RuncState {
  id: string;
  pid: number;
  status: 'created' | 'running' | 'pausing' | 'paused' | 'stopped';
  bundle: string;
}

/**
 * CRIU options for every container of a node, in the CRIU configuration file
 * its containers name with the `org.criu.config` annotation. runc 1.1 has no
 * `--tcp-close`, but it hands CRIU that file (default `/etc/criu/runc.conf`)
 * with each dump and restore, and CRIU applies the file after runc's own RPC
 * options, so these hold whatever runc passes.
 *
 * - `tcp-close`: established TCP connections are not dumped (a dump of them
 *   fails otherwise: "Connected TCP socket"); their sockets come back closed,
 *   so the workload sees its peers gone and reconnects, as it must anyway
 *   with a new node and a new IP. CRIU records the option in the image and
 *   refuses to restore the image without it, so every node sets it.
 * - `skip-in-flight`: connections still in a listener's queue, not yet
 *   accepted, are dropped (the client retries) instead of failing the dump.
 */
export const CRIU_RUNC_OPTIONS = ['tcp-close', 'skip-in-flight'] as const;

/** Writes a node's CRIU configuration file (atomically: CRIU may be reading the old one). */
export async function writeCriuConfig(path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const text = [
    '# CRIU options for runc on this node, written by the spot-rescue agent.',
    ...CRIU_RUNC_OPTIONS,
    '',
  ].join('\n');
  await writeFile(`${path}.tmp`, text);
  await rename(`${path}.tmp`, path);
}

/**
 * runc as this node uses it: its own state root (one per simulated node) and
 * CRIU 4.x. Containers get /dev/null for stdio (spawned with 'ignore') so
 * nothing outside the container is open in it when CRIU dumps it; runc's own
 * errors go to a log file that is read back on failure.
 */
export class Runc {
  constructor(
    readonly bin: string,
    readonly root: string,
    readonly criu: string,
  ) {}

  private async logged(args: string[], logFile: string, abort?: RunOptions): Promise<void> {
    await rm(logFile, { force: true });
    try {
      await run(this.bin, ['--root', this.root, '--log', logFile, '--criu', this.criu, ...args], {
        quiet: true,
        ...abort,
      });
    } catch (err) {
      const log = await readFile(logFile, 'utf8').catch(() => '');
      if (err instanceof CommandError)
        throw new CommandError(`runc ${args[0]}`, err.exitCode, `${err.stderr}\n${log}`);
      throw err;
    }
  }

  async state(id: string): Promise<RuncState | undefined> {
    try {
      return JSON.parse(await run(this.bin, ['--root', this.root, 'state', id])) as RuncState;
    } catch (err) {
      if (err instanceof CommandError && /does not exist|not found/i.test(err.stderr)) return undefined;
      throw err;
    }
  }

  runDetached(id: string, bundle: string, logFile: string): Promise<void> {
    return this.logged(['run', '--detach', '--bundle', bundle, id], logFile);
  }

  checkpoint(
    id: string,
    imagePath: string,
    workPath: string,
    logFile: string,
    signal: AbortSignal,
  ): Promise<void> {
    return this.logged(
      // No --tcp-established: the node's CRIU configuration closes TCP connections instead.
      ['checkpoint', '--image-path', imagePath, '--work-path', workPath, id],
      logFile,
      { signal, interrupt: interruptCriuUnder, abortGraceMs: CHECKPOINT_ABORT_GRACE_MS },
    );
  }

  restoreDetached(
    id: string,
    bundle: string,
    imagePath: string,
    workPath: string,
    logFile: string,
    signal?: AbortSignal,
  ): Promise<void> {
    return this.logged(
      ['restore', '--detach', '--bundle', bundle, '--image-path', imagePath, '--work-path', workPath, id],
      logFile,
      signal ? { signal, killSignal: 'SIGTERM' } : undefined,
    );
  }

  async resume(id: string): Promise<void> {
    await run(this.bin, ['--root', this.root, 'resume', id]);
  }

  /** Stops and forgets a container; fine if it is already gone. */
  async remove(id: string): Promise<void> {
    await run(this.bin, ['--root', this.root, 'delete', '--force', id]).catch((err: unknown) => {
      if (!(err instanceof CommandError && /does not exist|not found/i.test(err.stderr))) throw err;
    });
  }
}

/** How long an interrupted `runc checkpoint` may take to exit before runc itself is killed. */
const CHECKPOINT_ABORT_GRACE_MS = 3_000;

/**
 * Stops a `runc checkpoint` under way so that the container runs on, at
 * once. Killing runc alone is not enough: CRIU (its child, `criu swrk`)
 * would go on writing the whole dump with the container's tasks stopped,
 * and kill them at the end. So CRIU is killed, and runc, its RPC peer gone,
 * exits with an error having changed nothing more. CRIU has no prompt
 * way to cancel a dump (its SIGALRM only interrupts the freeze), but it is
 * built to survive its own death: while it dumps, the code it injected runs
 * in the task as a daemon that, when CRIU's socket closes, returns the task
 * to its own saved registers, and the kernel detaches the tasks CRIU traced,
 * so they run again; a cgroup left frozen is thawed by the rollback (runc
 * resume), and a dump that had completed and killed the tasks is restored
 * in place. runc starts CRIU more than once (a version query, then the
 * dump), so its children are watched until runc exits.
 */
function interruptCriuUnder(runc: ChildProcess): void {
  const killed = new Set<number>();
  const tick = () => {
    if (runc.exitCode !== null || runc.signalCode !== null || runc.pid === undefined) return;
    for (const pid of childrenOf(runc.pid)) {
      if (killed.has(pid)) continue;
      killed.add(pid);
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    setTimeout(tick, 20);
  };
  tick();
}

/** Children of a process, from /proc/<pid>/task/<tid>/children (which CRIU itself needs, so it is there). */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tasks) {
    try {
      for (const c of readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/)) {
        if (c) out.push(Number(c));
      }
    } catch {
      // The thread ended.
    }
  }
  return out;
}

export function criuLogOf(workPath: string, op: 'dump' | 'restore'): string {
  return join(workPath, `${op}.log`);
}
