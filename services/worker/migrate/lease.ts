import type { Redis } from 'ioredis';

/**
 * One migration per pod at a time, across jobs and worker replicas. A Spot
 * warning and an ASG lifecycle event for the same node (or a rebalance
 * recommendation followed by the warning) have different event ids, so they
 * queue different jobs for the same pod; without this, one job's rollback
 * could thaw the container the other froze, or its fallback delete the
 * other's restored copy.
 *
 * The lease is a Redis key holding "<fence> <holder>", held by a job id (so
 * a retry of the same job takes it back at once) with a TTL the holder
 * renews. Every take draws a new fence number: a stalled attempt whose lease
 * was taken over finds its value changed the next time it checks, before
 * anything destructive.
 */

/** Key names, in one place so a Redis Cluster hash tag can be applied here. */
export function podLeaseKeys(prefix: string, uid: string): { lease: string; fence: string } {
  // Both keys of one pod share a slot (the script touches both).
  return { lease: `${prefix}:pod-lease:{${uid}}`, fence: `${prefix}:pod-fence:{${uid}}` };
}

const ACQUIRE = `
local cur = redis.call('GET', KEYS[1])
if cur then
  local holder = string.match(cur, '^%d+ (.*)$')
  if holder ~= ARGV[1] then return {0, cur} end
end
local fence = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
redis.call('SET', KEYS[1], fence .. ' ' .. ARGV[1], 'PX', ARGV[2])
return {fence, ''}
`;

const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`;

const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`;

/** The lease was taken over (it lapsed while this holder was stalled): touch nothing more. */
export class LeaseLost extends Error {}

export interface PodLease {
  readonly holder: string;
  readonly fence: number;
  /** Throws LeaseLost unless Redis still holds this very lease. */
  assertHeld(): Promise<void>;
  /** Gives the lease up (only if still ours) and stops renewing it. */
  release(): Promise<void>;
  /** Stops renewing; the lease lapses after its TTL (a retry of the same job takes it back). */
  stop(): void;
}

export type Acquired = { lease: PodLease } | { heldBy: string };

export interface PodLeases {
  acquire(uid: string, holder: string): Promise<Acquired>;
}

/** Fence counters outlive any lease by far; they only need to keep growing while a pod can be migrated. */
const FENCE_TTL_MS = 24 * 3600 * 1000;

export class RedisPodLeases implements PodLeases {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlMs: number,
  ) {}

  async acquire(uid: string, holder: string): Promise<Acquired> {
    const keys = podLeaseKeys(this.prefix, uid);
    const [fence, current] = (await this.redis.eval(
      ACQUIRE,
      2,
      keys.lease,
      keys.fence,
      holder,
      this.ttlMs,
      FENCE_TTL_MS,
    )) as [number, string];
    if (fence === 0) return { heldBy: current.replace(/^\d+ /, '') };
    return { lease: new RedisPodLease(this.redis, keys.lease, holder, Number(fence), this.ttlMs) };
  }
}

class RedisPodLease implements PodLease {
  private lost = false;
  private readonly timer: NodeJS.Timeout;
  private readonly value: string;

  constructor(
    private readonly redis: Redis,
    private readonly key: string,
    readonly holder: string,
    readonly fence: number,
    private readonly ttlMs: number,
  ) {
    this.value = `${fence} ${holder}`;
    // Renewed three times per TTL: two missed renewals (a Redis blip) still keep it.
    this.timer = setInterval(() => void this.renew(), Math.max(100, Math.floor(ttlMs / 3)));
    this.timer.unref();
  }

  private async renew(): Promise<void> {
    if (this.lost) return;
    try {
      if ((await this.redis.eval(RENEW, 1, this.key, this.value, this.ttlMs)) !== 1) this.lost = true;
    } catch {
      // Unknown until Redis answers again; assertHeld asks before anything that matters.
    }
  }

  async assertHeld(): Promise<void> {
    if (!this.lost && (await this.redis.get(this.key)) === this.value) return;
    this.lost = true;
    throw new LeaseLost(`the migration lease of ${this.key} was taken over (fence ${this.fence})`);
  }

  async release(): Promise<void> {
    this.stop();
    await this.redis.eval(RELEASE, 1, this.key, this.value);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
