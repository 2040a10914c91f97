import { type ChildProcess, spawn } from 'node:child_process';
import { Socket } from 'node:net';
import { PassThrough, type Readable } from 'node:stream';

export interface RunOptions {
  cwd?: string;
  /** Aborting stops the process (see `killSignal`, `interrupt`); the call still settles only once it exited. */
  signal?: AbortSignal;
  /** Signal sent when `signal` aborts (default SIGKILL); SIGTERM lets runc undo what it started. */
  killSignal?: NodeJS.Signals;
  /**
   * Called instead of sending `killSignal` when `signal` aborts, for a
   * process that must be stopped its own way (`runc checkpoint`: interrupt
   * CRIU so that it puts the container back).
   */
  interrupt?: (child: ChildProcess) => void;
  /** After an abort, how long the process may take to exit before it gets SIGKILL (default 5 s). */
  abortGraceMs?: number;
  stdin?: 'ignore' | 'pipe';
  /**
   * All stdio to /dev/null. Needed for `runc run -d`/`runc restore -d`: the
   * container inherits runc's stdio, and a pipe back to the agent would both
   * keep the call from completing and be a file CRIU cannot dump.
   */
  quiet?: boolean;
}

export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly exitCode: number | null,
    readonly stderr: string,
  ) {
    super(`${command} failed (${exitCode === null ? 'killed' : `exit ${exitCode}`}): ${lastLines(stderr)}`);
    this.name = 'CommandError';
  }
}

function lastLines(text: string, n = 6): string {
  const lines = text.trim().split('\n');
  return lines.slice(-n).join(' | ') || 'no output';
}

/** Keeps only the tail of a process's stderr: enough to explain a failure, bounded in memory. */
function captureTail(stream: Readable | null, limit = 16_384): () => string {
  let buf = '';
  stream?.setEncoding('utf8');
  stream?.on('data', (d: string) => {
    buf = (buf + d).slice(-limit);
  });
  return () => buf;
}

function exitOf(child: ChildProcess, name: string, stderr: () => string, event: 'close' | 'exit' = 'close') {
  return new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.once(event, (code: number | null) => {
      if (code === 0) resolve();
      else reject(new CommandError(name, code, stderr()));
    });
  });
}

const DEFAULT_ABORT_GRACE_MS = 5_000;

/**
 * Runs a command to completion and returns its stdout. An abort stops the
 * process, but the call settles only when it has exited (a CommandError), so
 * whatever the caller does next (a rollback) never races a process still at
 * work.
 */
export async function run(cmd: string, args: string[], o: RunOptions = {}): Promise<string> {
  const { signal } = o;
  signal?.throwIfAborted();
  const child = spawn(cmd, args, {
    cwd: o.cwd,
    stdio: o.quiet ? 'ignore' : [o.stdin ?? 'ignore', 'pipe', 'pipe'],
  });
  const stdout = captureTail(child.stdout, 4 << 20);
  const stderr = captureTail(child.stderr);
  const exited = exitOf(child, `${cmd} ${args[0] ?? ''}`.trim(), stderr, o.quiet ? 'exit' : 'close');
  let killTimer: NodeJS.Timeout | undefined;
  const onAbort = () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    if (o.interrupt) o.interrupt(child);
    else child.kill(o.killSignal ?? 'SIGKILL');
    killTimer = setTimeout(() => child.kill('SIGKILL'), o.abortGraceMs ?? DEFAULT_ABORT_GRACE_MS);
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await exited;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    clearTimeout(killTimer);
  }
  return stdout();
}

/**
 * A process whose stdout is the source of a pipeline (e.g. `tar -c`). The
 * stream ends only after the process exited 0, so a failing producer can never
 * pass for a complete (truncated) archive.
 */
export function processSource(
  cmd: string,
  args: string[],
  o: { cwd?: string; stdin?: Readable | number } = {},
) {
  const child = spawn(cmd, args, { cwd: o.cwd, stdio: [o.stdin ?? 'ignore', 'pipe', 'pipe'] });
  const stderr = captureTail(child.stderr);
  const exited = exitOf(child, cmd, stderr);
  const out = new PassThrough();
  (child.stdout as Readable).pipe(out, { end: false });
  const stdoutEnded = new Promise<void>((resolve) => child.stdout?.once('end', resolve));
  Promise.all([exited, stdoutEnded]).then(
    () => out.end(),
    (err: Error) => out.destroy(err),
  );
  out.once('close', () => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  return { stream: out as Readable, exited, kill: () => child.kill('SIGKILL') };
}

/**
 * A process whose raw stdout pipe is handed to another process (tar into
 * zstd), never read here. `exited` rejects when it fails, so the consumer
 * can tell a complete archive from a truncated one; `stderr()` is its tail.
 */
export function processOutput(cmd: string, args: string[], o: { cwd?: string } = {}) {
  const child = spawn(cmd, args, { cwd: o.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  const stderr = captureTail(child.stderr);
  const exited = exitOf(child, cmd, stderr);
  exited.catch(() => {});
  return {
    stdout: child.stdout as Readable,
    exited,
    stderr,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

/**
 * A process reading another process's raw stdout pipe (tar -x from zstd -d),
 * never touching the data here. `exited` settles with it; `stderr()` is its tail.
 */
export function processReading(cmd: string, args: string[], stdin: Readable, o: { cwd?: string } = {}) {
  // A pipe of another process is handed over as it is; a stream of Node's own is piped in.
  const direct = stdin instanceof Socket;
  const child = spawn(cmd, args, { cwd: o.cwd, stdio: [direct ? stdin : 'pipe', 'ignore', 'pipe'] });
  if (!direct && child.stdin) {
    child.stdin.on('error', () => {});
    stdin.on('error', () => child.kill('SIGKILL'));
    stdin.pipe(child.stdin);
    // A reader that stops early (tar at its end-of-archive blocks) must not leave the writer blocked.
    child.once('exit', () => {
      if (child.stdin) stdin.unpipe(child.stdin);
      stdin.resume();
    });
  }
  const stderr = captureTail(child.stderr);
  const exited = exitOf(child, cmd, stderr);
  exited.catch(() => {});
  return {
    exited,
    stderr,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}
