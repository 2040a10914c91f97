import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';

export type LockMode = 'shared' | 'exclusive';

export interface HeldLock {
  release(): Promise<void>;
}

/**
 * Holds flock(1) on `path` until release() or until this process ends: the
 * lock belongs to a child that keeps it while its stdin is open, so a killed
 * test run can never leave it held (the kernel drops it with the pipe), which
 * a lock file or a Redis key with a TTL would have to guess at.
 */
export async function holdFileLock(
  path: string,
  mode: LockMode,
  o: { waitSeconds: number; onWait?: () => void },
): Promise<HeldLock> {
  const child = spawn(
    'flock',
    [
      mode === 'shared' ? '--shared' : '--exclusive',
      '--wait',
      String(o.waitSeconds),
      path,
      '-c',
      'echo held; exec cat',
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const waiting = setTimeout(() => o.onWait?.(), 1000);
  try {
    await new Promise<void>((resolve, reject) => {
      child.once('error', (err) => reject(new Error(`flock could not be started: ${err.message}`)));
      child.once('exit', (code) =>
        reject(
          new Error(
            code === 1
              ? `${path} was still held by another run after ${o.waitSeconds} s`
              : `flock on ${path} ended with ${code}`,
          ),
        ),
      );
      child.stdout!.once('data', () => resolve());
    });
  } finally {
    clearTimeout(waiting);
  }
  child.removeAllListeners('exit');
  // Neither the child nor its pipes may keep the process alive on their own.
  child.unref();
  unrefPipes(child);
  return {
    async release() {
      if (child.exitCode !== null) return;
      const exited = once(child, 'exit');
      child.stdin!.end();
      await exited;
    },
  };
}

function unrefPipes(child: ChildProcess): void {
  for (const s of [child.stdin, child.stdout]) (s as unknown as { unref?: () => void } | null)?.unref?.();
}
