/**
 * Where the local stack is, for tests. Every integration and e2e test goes
 * through here, so a missing stack fails loudly with the command that fixes
 * it instead of skipping.
 */

import type { AddressInfo } from 'node:net';
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

/** A TCP port free on 127.0.0.1 right now, for a process that must come back on the same address. */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}
