/**
 * Where the local stack is, for tests. Every integration and e2e test goes
 * through here, so a missing stack fails loudly with the command that fixes
 * it instead of skipping.
 */

import { createServer } from 'node:net';
export interface StackEnv {
  stateDir: string;
  toolsDir: string;
  redisUrl: string;
  awsEndpoint: string;
  awsRegion: string;
  kubeconfig: string;
  criu: string;
  runc: string;
  rootfs: string;
}

const REQUIRED = {
  stateDir: 'SPOT_RESCUE_STATE_DIR',
  toolsDir: 'SPOT_RESCUE_TOOLS_DIR',
  redisUrl: 'SPOT_RESCUE_REDIS_URL',
  awsEndpoint: 'SPOT_RESCUE_AWS_ENDPOINT',
  awsRegion: 'AWS_REGION',
  kubeconfig: 'KUBECONFIG',
  criu: 'SPOT_RESCUE_CRIU',
  runc: 'SPOT_RESCUE_RUNC',
  rootfs: 'SPOT_RESCUE_ROOTFS',
} as const satisfies Record<keyof StackEnv, string>;

export function stackEnv(): StackEnv {
  const missing = Object.values(REQUIRED).filter((v) => !process.env[v]);
  if (missing.length > 0) {
    throw new Error(
      `the local stack's environment is missing (${missing.join(', ')}): ` +
        'run `infra/stack up` and `eval "$(infra/stack env)"`, or use scripts/test',
    );
  }
  return Object.fromEntries(
    Object.entries(REQUIRED).map(([k, v]) => [k, process.env[v] as string]),
  ) as unknown as StackEnv;
}

/** The stack's Redis Cluster (infra/lib/redis-cluster.sh): three masters on loopback. */
export function redisClusterUrl(): string {
  const url = process.env['SPOT_RESCUE_REDIS_CLUSTER_URL'];
  if (!url) {
    throw new Error(
      'SPOT_RESCUE_REDIS_CLUSTER_URL is not set: run `infra/stack up` (or infra/lib/redis-cluster.sh up) and `eval "$(infra/stack env)"`',
    );
  }
  return url;
}

/** AWS settings in the shape services/common/aws.ts takes. */
export function awsSettings() {
  const s = stackEnv();
  return { awsRegion: s.awsRegion, awsEndpoint: s.awsEndpoint };
}

/** A name no other test run uses, for queues, buckets, namespaces and Redis prefixes. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}`;
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | null | false>,
  { timeoutMs = 30_000, intervalMs = 200 } = {},
): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await probe();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

/**
 * Ports freePort hands out: below the kernel's ephemeral range (32768 and
 * up on Linux) and above the stack's fixed ports. A port from the ephemeral
 * range, given up while its server is down, was soon handed again by the
 * kernel to another test file's port-0 listener or outgoing connection: a
 * Redis restarted on it met another test's Redis there.
 */
const FREE_PORTS = { from: 20_000, to: 32_000 };

/** A TCP port free on 127.0.0.1 right now, for a process that must come back on the same address. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = FREE_PORTS.from + Math.floor(Math.random() * (FREE_PORTS.to - FREE_PORTS.from));
    const s = createServer();
    const bound = await new Promise<boolean>((r) => {
      s.once('error', () => r(false));
      s.listen(port, '127.0.0.1', () => r(true));
    });
    if (!bound) continue;
    await new Promise((r) => s.close(r));
    return port;
  }
  throw new Error(`no free port between ${FREE_PORTS.from} and ${FREE_PORTS.to} after 100 tries`);
}
