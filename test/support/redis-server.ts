import { mkdir, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { ChildServer } from './child-server.js';

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
      // PING, not the port: a Redis loading its append-only file accepts connections but answers -LOADING.
      serving: () => pong(port),
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
