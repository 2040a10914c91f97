import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ChildServer } from './child-server.js';
import { repoRoot } from './terraform-policy.js';

export { freePort } from './stack.js';

/** The moto release the stack installs (infra/lib/common.sh pins it; the tools dir is keyed by it). */
export function motoVersion(): string {
  const common = readFileSync(join(repoRoot, 'infra/lib/common.sh'), 'utf8');
  const v = /^MOTO_VERSION=(\S+)$/m.exec(common)?.[1];
  if (!v) throw new Error('infra/lib/common.sh pins no MOTO_VERSION');
  return v;
}

/**
 * A moto server of a test's own, beside the shared stack's (which never
 * enforces IAM and is never touched here). It starts open, so a test can
 * create its users, roles and buckets; `enforceIam()` then turns on
 * authentication and IAM authorization for every later request, through
 * moto's own switch (`POST /moto-api/reset-auth`, what its
 * INITIAL_NO_AUTH_ACTION_COUNT setting does after that many requests).
 */
export class MotoServerProcess {
  private readonly server: ChildServer;

  constructor(
    readonly port: number,
    toolsDir: string,
  ) {
    this.server = new ChildServer(port, {
      name: 'moto',
      command: join(toolsDir, `moto-v${motoVersion()}`, 'bin', 'moto_server'),
      args: ['-H', '127.0.0.1', '-p', String(port)],
      // Whatever the caller's environment says, this server starts open (enforceIam turns it on).
      env: { ...process.env, INITIAL_NO_AUTH_ACTION_COUNT: 'inf' },
      installHint: 'run `infra/stack install`',
      serving: () =>
        fetch(`${this.endpoint}/moto-api/`).then(
          (r) => r.ok,
          () => false,
        ),
    });
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  start(): Promise<void> {
    return this.server.start();
  }

  /**
   * An IAM query call while the server is still open: moto checks no
   * signature then and tells the service by the credential scope, so a
   * placeholder Authorization header is enough (the project has no IAM
   * client). Answers the response's XML.
   */
  async iam(action: string, params: Record<string, string>): Promise<string> {
    const res = await fetch(this.endpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: 'AWS4-HMAC-SHA256 Credential=open/20260101/us-east-1/iam/aws4_request, Signature=none',
      },
      body: new URLSearchParams({ Action: action, Version: '2010-05-08', ...params }),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`IAM ${action}: ${res.status} ${text}`);
    return text;
  }

  /** From now on every request must be signed by a key moto issued, and IAM must allow it. */
  async enforceIam(): Promise<void> {
    const res = await fetch(`${this.endpoint}/moto-api/reset-auth`, { method: 'POST', body: '0' });
    if (!res.ok) throw new Error(`moto refused to enforce IAM: ${res.status} ${await res.text()}`);
  }

  stop(): Promise<void> {
    return this.server.stop();
  }
}
