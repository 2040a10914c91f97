import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import { ReplyError } from 'ioredis';
import { createRedisConnection } from '../../../services/common/redis.js';
import { withTimeout } from '../../../services/common/timeout.js';
import type { ResolvedNode } from '../../../services/listener/cluster-cache.js';
import {
  claimFailureCause,
  cordonWithoutRedis,
  describeClaimFailure,
} from '../../../services/listener/cordon-without-redis.js';
import { DedupeStore } from '../../../services/listener/dedupe.js';

const node: ResolvedNode = {
  name: 'spot-a',
  instanceId: 'i-0abc123def4567890',
  node: { metadata: { name: 'spot-a' } },
};

/** A loopback port nothing listens on: bound once by the OS's choice, then let go. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as { port: number };
  await new Promise((r) => s.close(r));
  return port;
}

describe('whether a failed claim cordons the node without Redis', () => {
  it('a node of this cluster, from a synced cache: cordon it', () => {
    assert.deepEqual(cordonWithoutRedis(node, true), { action: 'cordon', node });
  });

  it('an instance the synced cache does not know: not ours, nothing', () => {
    assert.deepEqual(cordonWithoutRedis(undefined, true), { action: 'none', why: 'not-ours' });
  });

  it('a cache still syncing: the node it holds is cordoned, as the rescue would act on it; one it lacks is not', () => {
    assert.deepEqual(cordonWithoutRedis(node, false), { action: 'cordon', node });
    assert.deepEqual(cordonWithoutRedis(undefined, false), { action: 'none', why: 'cache-not-synced' });
  });
});

describe('why a claim got no answer, from the errors the listener really gets', () => {
  it('the claim through the listener’s own connection, to a Redis that is not there: no-connection', async () => {
    const redis = createRedisConnection(`redis://127.0.0.1:${await closedPort()}`, {
      maxRetriesPerRequest: 1,
    });
    redis.on('error', () => {});
    try {
      const err = await new DedupeStore(redis, 'test').claim('k', 'owner', 1000).then(
        () => assert.fail('a claim with no Redis succeeded'),
        (e: unknown) => e,
      );
      assert.equal(claimFailureCause(err), 'no-connection', String(err));
    } finally {
      redis.disconnect();
    }
  });

  it('a claim the timeout gave up on: timeout', async () => {
    const err = await withTimeout(new Promise(() => {}), 1, 'dedupe claim').catch((e: unknown) => e);
    assert.equal(claimFailureCause(err), 'timeout');
  });

  it('an error reply (a demoted primary): error-reply', () => {
    const err = new ReplyError("READONLY You can't write against a read only replica.");
    assert.equal(claimFailureCause(err), 'error-reply');
  });

  it('each cause has its own words', () => {
    const words = (['timeout', 'no-connection', 'error-reply'] as const).map(describeClaimFailure);
    assert.equal(new Set(words).size, 3);
  });
});
