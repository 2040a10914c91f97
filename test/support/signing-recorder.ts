import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { forward } from './http-forward.js';

export interface SignedRequest {
  method: string;
  path: string;
  /** The access key id of the request's SigV4 signature. */
  accessKeyId: string;
  /** Whether it carried a session token (STS credentials). */
  sessionToken: boolean;
}

/** A hop in front of moto that notes the access key each request was signed with. */
export class SigningRecorder {
  seen: SignedRequest[] = [];
  private server: Server | undefined;

  async start(upstream: string): Promise<string> {
    const up = new URL(upstream);
    this.server = createServer((req, res) => {
      const auth = String(req.headers.authorization ?? '');
      this.seen.push({
        method: req.method ?? '',
        path: req.url ?? '',
        accessKeyId: /Credential=([^/]+)\//.exec(auth)?.[1] ?? '(unsigned)',
        sessionToken: req.headers['x-amz-security-token'] !== undefined,
      });
      forward(up, req, res);
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  take() {
    const out = this.seen;
    this.seen = [];
    return out;
  }

  close(): void {
    this.server?.close();
  }
}
