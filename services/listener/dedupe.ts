import { assertOneSlot, type Redis } from '../common/redis.js';

export type ClaimResult = 'claimed' | 'done' | 'busy';

// A claim is a lease: it lives as long as the message's visibility timeout and is
// renewed with it, so a replica that dies mid-way frees the pair for whoever gets
// the message next. `done` is written only after the jobs are in Redis.
const CLAIM = `
local v = redis.call('GET', KEYS[1])
if v == 'done' then return 'done' end
if v then return 'busy' end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 'claimed'`;
const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`;
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/**
 * How long a claim lives (and is renewed for) next to its message's
 * visibility timeout: a little shorter, so that when a replica dies holding
 * both, the claim is gone by the time SQS hands the message out again and
 * the next receiver acts at once instead of finding it "busy" and backing off.
 */
export function claimLeaseMs(visibilityTimeoutSeconds: number): number {
  const visibleMs = visibilityTimeoutSeconds * 1000;
  return visibleMs - Math.min(1000, Math.floor(visibleMs / 4));
}

/**
 * Remembers which (event, instance) pairs are being handled or were handled,
 * so redeliveries and other replicas never act twice.
 */
export class DedupeStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {
    // The claim scripts touch one key, but a cluster must still find every key of the install in one slot.
    assertOneSlot(redis, prefix);
  }

  key(eventId: string, instanceId: string): string {
    return `${this.prefix}:listener:dedupe:${eventId}:${instanceId}`;
  }

  async claim(key: string, owner: string, ttlMs: number): Promise<ClaimResult> {
    return (await this.redis.eval(CLAIM, 1, key, owner, String(ttlMs))) as ClaimResult;
  }

  async renew(key: string, owner: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.eval(RENEW, 1, key, owner, String(ttlMs))) === 1;
  }

  async release(key: string, owner: string): Promise<void> {
    await this.redis.eval(RELEASE, 1, key, owner);
  }

  async markDone(key: string, ttlMs: number): Promise<void> {
    await this.redis.set(key, 'done', 'PX', ttlMs);
  }
}
