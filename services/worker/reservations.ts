import type { Redis } from 'ioredis';
import { assertOneSlot } from '../common/redis.js';
import type { Resources } from './pod-resources.js';

/**
 * Capacity that migrations have claimed on target nodes but whose restored
 * pods do not exist yet, shared by every worker through Redis. A claim is
 * checked and made in one Lua script, so two workers can never both take
 * the last slot of a node; it carries an expiry so a crashed worker's claims
 * free themselves.
 *
 * Layout: <prefix>:reservations:<node> is a hash holder -> "cpu mem pods expiresAt",
 * <prefix>:reservation-of:<holder> names the node a holder reserved on. The
 * script touches both at once, so on a Redis Cluster the prefix is a hash tag
 * ({spot-rescue}) that puts them in one slot; the constructor refuses anything else.
 */
const RESERVE = `
local key, ofKey = KEYS[1], KEYS[2]
local holder, cpu, mem, pods = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local freeCpu, freeMem, freePods = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local now, ttl, node = tonumber(ARGV[8]), tonumber(ARGV[9]), ARGV[10]
local entries = redis.call('HGETALL', key)
local usedCpu, usedMem, usedPods = 0, 0, 0
for i = 1, #entries, 2 do
  local h, v = entries[i], entries[i + 1]
  local c, m, p, exp = string.match(v, '(%S+) (%S+) (%S+) (%S+)')
  if tonumber(exp) <= now then
    redis.call('HDEL', key, h)
  elseif h == holder then
    redis.call('HSET', key, h, cpu .. ' ' .. mem .. ' ' .. pods .. ' ' .. (now + ttl))
    redis.call('SET', ofKey, node, 'PX', ttl)
    return 1
  else
    usedCpu, usedMem, usedPods = usedCpu + tonumber(c), usedMem + tonumber(m), usedPods + tonumber(p)
  end
end
if usedCpu + cpu > freeCpu or usedMem + mem > freeMem or usedPods + pods > freePods then return 0 end
redis.call('HSET', key, holder, cpu .. ' ' .. mem .. ' ' .. pods .. ' ' .. (now + ttl))
redis.call('PEXPIRE', key, ttl)
redis.call('SET', ofKey, node, 'PX', ttl)
return 1
`;

export interface Reservations {
  /** Claims `req` on `node` if it still fits in `free` (allocatable minus running pods) after others' claims. */
  reserve(node: string, holder: string, req: Resources, free: Resources): Promise<boolean>;
  /** The node a holder has a live claim on, if any (a retried job finds its target again). */
  heldBy(holder: string): Promise<string | null>;
  release(holder: string): Promise<void>;
  /** Live claims per node. */
  reservedOn(nodes: string[]): Promise<Map<string, Resources>>;
}

export class RedisReservations implements Reservations {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {
    assertOneSlot(redis, prefix);
  }

  private key(node: string) {
    return `${this.prefix}:reservations:${node}`;
  }

  private ofKey(holder: string) {
    return `${this.prefix}:reservation-of:${holder}`;
  }

  async reserve(node: string, holder: string, req: Resources, free: Resources): Promise<boolean> {
    const r = await this.redis.eval(
      RESERVE,
      2,
      this.key(node),
      this.ofKey(holder),
      holder,
      req.cpuMillis,
      req.memoryBytes,
      req.pods,
      free.cpuMillis,
      free.memoryBytes,
      free.pods,
      this.now(),
      this.ttlMs,
      node,
    );
    return r === 1;
  }

  async heldBy(holder: string): Promise<string | null> {
    return this.redis.get(this.ofKey(holder));
  }

  async release(holder: string): Promise<void> {
    const node = await this.redis.get(this.ofKey(holder));
    const tx = this.redis.multi();
    if (node) tx.hdel(this.key(node), holder);
    tx.del(this.ofKey(holder));
    await tx.exec();
  }

  async reservedOn(nodes: string[]): Promise<Map<string, Resources>> {
    const out = new Map<string, Resources>();
    if (nodes.length === 0) return out;
    const tx = this.redis.multi();
    for (const n of nodes) tx.hgetall(this.key(n));
    const results = (await tx.exec()) ?? [];
    const now = this.now();
    nodes.forEach((n, i) => {
      const entries = (results[i]?.[1] ?? {}) as Record<string, string>;
      let sum: Resources = { cpuMillis: 0, memoryBytes: 0, pods: 0 };
      for (const v of Object.values(entries)) {
        const [c, m, p, exp] = v.split(' ').map(Number) as [number, number, number, number];
        if (exp > now)
          sum = { cpuMillis: sum.cpuMillis + c, memoryBytes: sum.memoryBytes + m, pods: sum.pods + p };
      }
      if (sum.pods > 0 || sum.cpuMillis > 0 || sum.memoryBytes > 0) out.set(n, sum);
    });
    return out;
  }
}
