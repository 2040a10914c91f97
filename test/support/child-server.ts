import { type ChildProcess, spawn } from 'node:child_process';
import { createConnection } from 'node:net';

export interface ChildServerCommand {
  /** How errors name it: `moto`, `redis-server`. */
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  /** What to do when the command is missing (the setup step that installs it). */
  installHint: string;
  /**
   * Resolves true once the server serves; by default, once `port` accepts a
   * connection. Given the child's pid, so a check can tell it from another
   * process that holds the port.
   */
  serving?: (pid: number) => Promise<boolean>;
  /** How long it may take to serve after spawning. */
  startWithinMs?: number;
}

/** The last few KiB of a server's output, for the error that says why it did not start. */
const KEPT_OUTPUT_CHARS = 4000;

/**
 * A server a test runs as a child process of its own on `port`: spawned,
 * waited for until it serves, stopped by a signal. It never fails quietly:
 * a missing binary, an early exit or a server that never serves throws with
 * what it printed last. `start()` again after a stop or a kill restarts it
 * with the same command (a crash-and-recover test).
 */
export class ChildServer {
  private child: ChildProcess | undefined;
  private output = '';

  constructor(
    readonly port: number,
    private readonly c: ChildServerCommand,
  ) {}

  get running(): boolean {
    const c = this.child;
    return c !== undefined && c.exitCode === null && c.signalCode === null;
  }

  /** What it printed last (stdout and stderr, interleaved). */
  get recentOutput(): string {
    return this.output;
  }

  async start(): Promise<void> {
    if (this.running) throw new Error(`${this.c.name} on port ${this.port} is already running`);
    this.output = '';
    const child = spawn(this.c.command, this.c.args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(this.c.env ? { env: this.c.env } : {}),
    });
    this.child = child;
    const keep = (d: Buffer) => {
      this.output = (this.output + d.toString()).slice(-KEPT_OUTPUT_CHARS);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    let spawnError: Error | undefined;
    child.once('error', (err) => {
      spawnError = err;
    });
    const serving = this.c.serving ?? (() => acceptsConnections(this.port));
    const end = Date.now() + (this.c.startWithinMs ?? 30_000);
    for (;;) {
      if (spawnError)
        throw new Error(`cannot run ${this.c.name} (${this.c.installHint}): ${spawnError.message}`);
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(
          `${this.c.name} exited with ${child.exitCode ?? child.signalCode} before serving: ${this.output}`,
        );
      if (await serving(child.pid ?? -1)) return;
      if (Date.now() > end) {
        await this.stop('SIGKILL');
        throw new Error(`${this.c.name} on port ${this.port} did not serve in time: ${this.output}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Sends `signal` and waits for the exit; SIGKILL is a crash (no shutdown work). */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.child) await signalAndWait(this.child, signal);
  }
}

/** Sends `signal` to a child still running and resolves once it has exited. */
export async function signalAndWait(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill(signal);
  await exited;
}

/** True once something on 127.0.0.1:`port` accepts a TCP connection. */
export function acceptsConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection(port, '127.0.0.1');
    const done = (v: boolean) => {
      s.destroy();
      resolve(v);
    };
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}
