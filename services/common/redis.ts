import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { parseSentinelUrl } from './redis-sentinel-url.js';

export type { Redis };

/**
 * `redis+cluster://host:port` (or `rediss+cluster://` with TLS) names one node
 * of a Redis Cluster (ElastiCache cluster mode's configuration endpoint,
 * MemoryDB, Serverless); the client discovers the rest. So does a plain URL
 * with SPOT_RESCUE_REDIS_CLUSTER=true.
 */
export function isClusterUrl(url: string, env: NodeJS.ProcessEnv = process.env): boolean {
  return (
    /^rediss?\+cluster:\/\//i.test(url) || /^(true|1|yes)$/i.test(env['SPOT_RESCUE_REDIS_CLUSTER'] ?? '')
  );
}

/**
 * On a cluster every key a script or a BullMQ queue touches at once must hash
 * to one slot: the queue prefix has to be a hash tag, like `{spot-rescue}`,
 * which puts every key of the install (queues, dedupe, reservations, leases)
 * in one slot. Undefined when the pair is fine.
 */
export function clusterPrefixProblem(url: string, prefix: string, env: NodeJS.ProcessEnv = process.env) {
  if (!isClusterUrl(url, env) || /^\{[^{}]+\}$/.test(prefix)) return undefined;
  return `Redis Cluster needs a hash-tagged queue prefix: set SPOT_RESCUE_QUEUE_PREFIX={${prefix.replace(/[{}]/g, '')}} (got ${prefix})`;
}

/**
 * Where a SCAN must run to see every key: each master of a cluster (a SCAN
 * sent to the cluster client reaches one node only), or the one server.
 */
export function scanTargets(client: Redis): Redis[] {
  const c: unknown = client;
  if (!(c instanceof Cluster)) return [client];
  const masters = c.nodes('master') as Redis[];
  // No master known yet (still connecting): seeing nothing must not pass for "no keys".
  if (masters.length === 0) throw new Error('Redis Cluster: no master connected yet');
  return masters;
}

/** Throws when keys under `prefix` could land in several slots of this client's cluster. */
export function assertOneSlot(client: Redis, prefix: string): void {
  if ((client as unknown) instanceof Cluster && !/^\{[^{}]+\}$/.test(prefix)) {
    throw new Error(
      `Redis Cluster: keys under prefix ${prefix} would span slots; use a hash tag, e.g. {${prefix}}`,
    );
  }
}

/**
 * BullMQ needs `maxRetriesPerRequest: null` on connections used by workers
 * (blocking commands must wait for Redis to come back rather than fail).
 *
 * On a cluster URL this is an ioredis Cluster. It is typed as Redis because
 * it answers every command the services send (GET/SET/EVAL/MULTI on keys of
 * one slot, BullMQ's scripts) and BullMQ takes either; what differs (no
 * SELECT, no cross-slot keys) the hash-tagged prefix rules out.
 */
export function createRedisConnection(url: string, options: RedisOptions = {}): Redis {
  const base: RedisOptions = {
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    retryStrategy: (times) => Math.min(times * 200, 2000),
    ...options,
  };
  const sentinel = parseSentinelUrl(url);
  if (sentinel) {
    const { sentinels, name, username, password, sentinelPassword, db, tls } = sentinel;
    return new Redis({
      ...base,
      sentinels,
      name,
      db,
      ...(username ? { username } : {}),
      ...(password ? { password } : {}),
      ...(sentinelPassword ? { sentinelPassword } : {}),
      ...(tls ? { tls: {}, enableTLSForSentinelMode: true } : {}),
      // After a failover the old master may still answer as a replica for a while: writes there fail with
      // READONLY, and reconnecting makes ioredis ask the sentinels for the new master.
      reconnectOnError: (err) => err.message.startsWith('READONLY'),
      sentinelRetryStrategy: (times) => Math.min(times * 200, 2000),
    });
  }
  if (!isClusterUrl(url)) return new Redis(url, base);
  const u = new URL(url.replace(/^(rediss?)\+cluster:/i, '$1:'));
  const tls = u.protocol === 'rediss:';
  const cluster = new Cluster([{ host: u.hostname, port: Number(u.port || 6379) }], {
    // The nodes announce themselves by address; with TLS (ElastiCache) they are verified by the seed's name.
    ...(tls ? { dnsLookup: (address, callback) => callback(null, address) } : {}),
    clusterRetryStrategy: (times) => Math.min(times * 200, 2000),
    enableReadyCheck: true,
    // BullMQ's blocking commands need this on the cluster client itself too.
    maxRedirections: 16,
    redisOptions: {
      ...base,
      ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
      ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
      ...(tls ? { tls: { servername: u.hostname } } : {}),
    },
  });
  return cluster as unknown as Redis;
}
