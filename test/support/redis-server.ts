import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChildServer } from './child-server.js';
import { freePort } from './stack.js';

export { freePort };

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
  private readonly server: ChildServer;
  private readonly sentinelConf: string;

  constructor(
    readonly port: number,
    private readonly o: RedisServerOptions,
  ) {
    this.sentinelConf = join(o.dir, 'sentinel.conf');
    const args = o.sentinel
      ? [this.sentinelConf, '--sentinel']
      : [
          '--bind',
          '127.0.0.1',
          '--port',
          String(port),
          '--dir',
          o.dir,
          '--save',
          '',
          '--appendonly',
          'yes',
          '--appendfsync',
          'everysec',
          '--maxmemory-policy',
          'noeviction',
          ...(o.args ?? []),
        ];
    this.server = new ChildServer(port, {
      name: 'redis-server',
      command: 'redis-server',
      args,
      installHint: 'installed by infra/stack up',
      // Its own PONG, not the port's: a Redis loading its append-only file accepts connections but
      // answers -LOADING, and a restart on the same port could meet another test's Redis there.
      serving: (pid) => servedBy(port, pid),
      startWithinMs: 20_000,
    });
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    await mkdir(this.o.dir, { recursive: true });
    if (this.o.sentinel) {
      await writeFile(
        this.sentinelConf,
        [`bind 127.0.0.1`, `port ${this.port}`, `dir ${this.o.dir}`, ...this.o.sentinel, ''].join('\n'),
      );
    }
    await this.server.start();
  }

  /** A crash: no shutdown save, only what the append-only file already has. */
  kill(): Promise<void> {
    return this.server.stop('SIGKILL');
  }

  stop(): Promise<void> {
    return this.kill();
  }
}

/** The Redis on the port answers, and is the process `pid`; false for one still loading or another's. */
function servedBy(port: number, pid: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection(port, '127.0.0.1');
    let buf = '';
    const done = (v: boolean) => {
      s.destroy();
      resolve(v);
    };
    // PING answers -LOADING while the append-only file loads; INFO names the process.
    s.on('connect', () => s.write('PING\r\nINFO server\r\n'));
    s.on('data', (d) => {
      buf += d.toString();
      if (buf.startsWith('-')) done(false);
      const m = /process_id:(\d+)/.exec(buf);
      if (m) done(buf.startsWith('+PONG') && Number(m[1]) === pid);
    });
    s.on('error', () => done(false));
    setTimeout(() => done(false), 1000);
  });
}

/**
 * A throwaway redis-server (no AOF) in a temporary directory on a free port,
 * started: for a test that stops and starts the listener's Redis under it.
 * `dispose` stops it, if it still runs, and removes the directory.
 */
export async function startScratchRedis(): Promise<{ redis: RedisServerProcess; dispose(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'sr-redis-'));
  const redis = new RedisServerProcess(await freePort(), { dir, args: ['--appendonly', 'no'] });
  await redis.start();
  return {
    redis,
    dispose: async () => {
      await redis.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
