import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { forward } from '../../support/http-forward.js';

export type FaultMode =
  | { kind: 'pass' }
  /** Every UploadPart after the first `afterParts` has its connection cut halfway through its body. */
  | { kind: 'cut-parts'; afterParts: number }
  /** UploadPart requests are read and then never answered. */
  | { kind: 'stall-parts' };

/**
 * A real HTTP hop between the agent and moto that can break S3 the way a
 * network or an overloaded endpoint does, while other calls (create, abort,
 * list) pass, so the test can watch what the agent leaves behind.
 */
export class S3FaultProxy {
  mode: FaultMode = { kind: 'pass' };
  partsSeen = 0;
  partsBroken = 0;
  private server: Server | undefined;
  private readonly held = new Set<ServerResponse>();

  constructor(private readonly upstream: string) {}

  async start(): Promise<string> {
    const up = new URL(this.upstream);
    this.server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://proxy');
      const isPart =
        req.method === 'PUT' && url.searchParams.has('partNumber') && url.searchParams.has('uploadId');
      if (isPart) this.partsSeen++;
      const mode = this.mode;
      if (isPart && mode.kind === 'cut-parts' && this.partsSeen > mode.afterParts) {
        this.partsBroken++;
        let got = 0;
        const half = Number(req.headers['content-length'] ?? 0) / 2;
        req.on('data', (d: Buffer) => {
          got += d.length;
          if (got >= half) req.socket.destroy();
        });
        req.on('end', () => req.socket.destroy());
        return;
      }
      if (isPart && mode.kind === 'stall-parts') {
        this.partsBroken++;
        req.resume();
        this.held.add(res);
        return;
      }
      forward(up, req, res);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    for (const r of this.held) r.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}
