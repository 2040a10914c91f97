import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { forward } from '../support/http-forward.js';

/**
 * An HTTP hop in front of moto for the worker and the agents. During an
 * outage every request is answered 503 ServiceUnavailable, as S3 answers
 * when a prefix is overloaded or the endpoint is unreachable behind a load
 * balancer; the SDK's retries see the same thing each time.
 */
export class AwsOutageProxy {
  private server: Server | undefined;
  down = false;
  refused = 0;

  constructor(private readonly upstream: string) {}

  async start(): Promise<string> {
    const up = new URL(this.upstream);
    this.server = createServer((req, res) => {
      if (this.down) {
        this.refused++;
        req.resume();
        res.writeHead(503, { 'content-type': 'application/xml' });
        res.end(
          '<?xml version="1.0" encoding="UTF-8"?><Error><Code>ServiceUnavailable</Code>' +
            '<Message>simulated outage</Message></Error>',
        );
        return;
      }
      forward(up, req, res);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
