import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readConfig } from '../../../services/common/config.js';
import { clusterPrefixProblem, isClusterUrl } from '../../../services/common/redis.js';
import { listenerSettings } from '../../../services/listener/settings.js';

describe('Redis Cluster settings', () => {
  it('a cluster is named by the URL scheme, or by SPOT_RESCUE_REDIS_CLUSTER', () => {
    assert.equal(isClusterUrl('redis+cluster://127.0.0.1:7001', {}), true);
    assert.equal(isClusterUrl('rediss+cluster://cfg.x.cache.amazonaws.com:6379', {}), true);
    assert.equal(isClusterUrl('rediss://master.x.cache.amazonaws.com:6379', {}), false);
    assert.equal(isClusterUrl('rediss://cfg.x:6379', { SPOT_RESCUE_REDIS_CLUSTER: 'true' }), true);
  });

  it('on a cluster the prefix must be a hash tag; a standalone Redis takes either', () => {
    assert.match(
      clusterPrefixProblem('redis+cluster://h:1', 'spot-rescue', {}) ?? '',
      /SPOT_RESCUE_QUEUE_PREFIX=\{spot-rescue\}/,
    );
    assert.equal(clusterPrefixProblem('redis+cluster://h:1', '{spot-rescue}', {}), undefined);
    assert.equal(clusterPrefixProblem('redis://h:1', 'spot-rescue', {}), undefined);
  });

  it('the settings accept a cluster URL and a braced prefix, and nothing half-braced', () => {
    const env = {
      SPOT_RESCUE_QUEUE_URL: 'http://q',
      SPOT_RESCUE_DLQ_URL: 'http://d',
      SPOT_RESCUE_REDIS_URL: 'rediss+cluster://cfg.x:6379',
      SPOT_RESCUE_QUEUE_PREFIX: '{spot-rescue}',
      SPOT_RESCUE_JOB_SIGNING_KEY_FILE: 'key',
    };
    assert.equal(readConfig(listenerSettings, env).queuePrefix, '{spot-rescue}');
    assert.throws(
      () => readConfig(listenerSettings, { ...env, SPOT_RESCUE_QUEUE_PREFIX: '{spot-rescue' }),
      /QUEUE_PREFIX/,
    );
  });
});
