import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { join } from 'node:path';

export { freePort } from './stack.js';

export interface RedisServerOptions {
  /** Its working directory (AOF, or the sentinel's config, which it rewrites). */
  dir: string;
  /** More redis-server arguments, e.g. `--replicaof 127.0.0.1 6379`. */
  args?: string[];
  /** Runs it as a sentinel with these config lines (`sentinel monitor ...`). */
  sentinel?: string[];
}

/**
 * A redis-server of a test's own (the stack installs the binary), so a test
 * can crash, restart or fail it over without touching the shared stack's
 * Redis. Configured as the chart recommends (AOF, fsync every second,
 * noeviction) unless `args` say otherwise.
 */
export class RedisServerProcess {
  private child: ChildProcess | undefined;

  constructor(
    readonly port: number,
    private readonly o: RedisServerOptions,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    await mkdir(this.o.dir, { recursive: true });
    let args: string[];
    if (this.o.sentinel) {
      const conf = join(this.o.dir, 'sentinel.conf');
      await writeFile(
        conf,
        [`bind 127.0.0.1`, `port ${this.port}`, `dir ${this.o.dir}`, ...this.o.sentinel, ''].join('\n'),
      );
      args = [conf, '--sentinel'];
    } else {
      args = [
        '--bind',
        '127.0.0.1',
        '--port',
        String(this.port),
        '--dir',
        this.o.dir,
        '--save',
        '',
        '--appendonly',
        'yes',
        '--appendfsync',
        'everysec',
        '--maxmemory-policy',
        'noeviction',
        ...(this.o.args ?? []),
      ];
    }
    const child = spawn('redis-server', args, { stdio: 'ignore' });
    this.child = child;
    const spawnError = new Promise<Error>((r) => child.once('error', r));
    const end = Date.now() + 20_000;
    while (!(await pong(this.port))) {
      const failed = await Promise.race([
        spawnError,
        new Promise<undefined>((r) => setTimeout(() => r(undefined), 100)),
      ]);
      if (failed) throw new Error(`cannot run redis-server (installed by infra/stack up): ${failed.message}`);
      if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`);
      if (Date.now() > end) throw new Error(`redis-server on port ${this.port} did not answer PING`);
    }
  }

  /** A crash: no shutdown save, only what the append-only file already has. */
  async kill(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await exited;
  }

  async stop(): Promise<void> {
    await this.kill();
  }
}

function pong(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection(port, '127.0.0.1');
    let buf = '';
    const done = (v: boolean) => {
      s.destroy();
      resolve(v);
    };
    s.on('connect', () => s.write('PING\r\n'));
    s.on('data', (d) => {
      buf += d.toString();
      if (buf.includes('PONG')) done(true);
    });
    s.on('error', () => done(false));
    setTimeout(() => done(false), 1000);
  });
}
