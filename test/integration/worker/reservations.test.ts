import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { createRedisConnection } from '../../../services/common/redis.js';
import { RedisReservations } from '../../../services/worker/reservations.js';
import { stackEnv, uniqueName } from '../../support/stack.js';

/** Capacity claims on target nodes, shared by workers through the real Redis. */
describe('worker: reservations in Redis', () => {
  const redis = createRedisConnection(stackEnv().redisUrl);
  const prefix = uniqueName('wres');
  const node = 'n1';
  const free = { cpuMillis: 1000, memoryBytes: 1000, pods: 10 };
  const req = { cpuMillis: 300, memoryBytes: 100, pods: 1 };

  after(async () => {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });

  test('concurrent claims never exceed the free capacity', async () => {
    const r = new RedisReservations(redis, prefix, 60_000);
    // Ten workers race for a node with room for three.
    const won = await Promise.all(
      Array.from({ length: 10 }, (_, i) => r.reserve(node, `job-${i}`, req, free)),
    );
    assert.equal(won.filter(Boolean).length, 3);
    const sum = (await r.reservedOn([node, 'other'])).get(node);
    assert.deepEqual(sum, { cpuMillis: 900, memoryBytes: 300, pods: 3 });
    const winner = `job-${won.indexOf(true)}`;
    assert.equal(await r.heldBy(winner), node);
    // A retried job renews its claim instead of taking a second slot.
    assert.equal(await r.reserve(node, winner, req, free), true);
    assert.equal((await r.reservedOn([node])).get(node)?.pods, 3);
    await r.release(winner);
    assert.equal(await r.heldBy(winner), null);
    assert.equal((await r.reservedOn([node])).get(node)?.pods, 2);
    assert.equal(await r.reserve(node, 'late', req, free), true, 'a released slot is free again');
  });

  test('a crashed worker’s claims expire', async () => {
    let now = 1_000_000;
    const r = new RedisReservations(redis, `${prefix}-ttl`, 5_000, () => now);
    assert.equal(await r.reserve(node, 'a', { ...req, cpuMillis: 1000 }, free), true);
    assert.equal(await r.reserve(node, 'b', req, free), false);
    now += 6_000;
    assert.equal((await r.reservedOn([node])).size, 0);
    assert.equal(await r.reserve(node, 'b', req, free), true);
  });
});
