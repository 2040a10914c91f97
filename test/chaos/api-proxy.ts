import type { AddressInfo } from 'node:net';
import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP hop in front of kube-apiserver (TLS passes through untouched) that
 * can stall: while paused, bytes already sent wait in the kernel and new
 * connections are accepted but not forwarded, the way an overloaded or
 * partitioned control plane looks to its clients.
 */
export class PausableTcpProxy {
  private server: Server | undefined;
  private readonly pairs = new Set<[Socket, Socket]>();
  private readonly waiting: (() => void)[] = [];
  paused = false;

  constructor(
    private readonly upstreamHost: string,
    private readonly upstreamPort: number,
  ) {}

  async start(): Promise<number> {
    this.server = createServer((client) => {
      client.on('error', () => {});
      const open = () => {
        if (client.destroyed) return;
        const up = connect(this.upstreamPort, this.upstreamHost);
        up.on('error', () => client.destroy());
        client.on('close', () => up.destroy());
        up.on('close', () => client.destroy());
        client.pipe(up);
        up.pipe(client);
        const pair: [Socket, Socket] = [client, up];
        this.pairs.add(pair);
        client.on('close', () => this.pairs.delete(pair));
      };
      if (this.paused) {
        client.pause();
        this.waiting.push(open);
      } else open();
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as AddressInfo).port;
  }

  pause(): void {
    this.paused = true;
    for (const [a, b] of this.pairs) {
      a.unpipe(b);
      b.unpipe(a);
      a.pause();
      b.pause();
    }
  }

  resume(): void {
    this.paused = false;
    for (const [a, b] of this.pairs) {
      a.pipe(b);
      b.pipe(a);
    }
    for (const open of this.waiting.splice(0)) open();
  }

  async stop(): Promise<void> {
    for (const [a, b] of this.pairs) {
      a.destroy();
      b.destroy();
    }
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
