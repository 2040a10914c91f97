import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { CommandError, run } from './process.js';

export interface RuncState {
  id: string;
  pid: number;
  status: 'created' | 'running' | 'pausing' | 'paused' | 'stopped';
  bundle: string;
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

  private async logged(args: string[], logFile: string, signal?: AbortSignal): Promise<void> {
    await rm(logFile, { force: true });
    try {
      await run(this.bin, ['--root', this.root, '--log', logFile, '--criu', this.criu, ...args], {
        quiet: true,
        ...(signal ? { signal, killSignal: 'SIGTERM' } : {}),
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
      ['checkpoint', '--image-path', imagePath, '--work-path', workPath, '--tcp-established', id],
      logFile,
      signal,
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
      [
        'restore',
        '--detach',
        '--bundle',
        bundle,
        '--image-path',
        imagePath,
        '--work-path',
        workPath,
        '--tcp-established',
        id,
      ],
      logFile,
      signal,
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

export function criuLogOf(workPath: string, op: 'dump' | 'restore'): string {
  return join(workPath, `${op}.log`);
}
