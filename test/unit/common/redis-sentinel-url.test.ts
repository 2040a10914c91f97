import assert from 'node:assert/strict';
import { test } from 'node:test';
import { redact } from '../../../services/cli/config-command.js';
import { commonSettings, readConfig } from '../../../services/common/config.js';
import { parseSentinelUrl } from '../../../services/common/redis-sentinel-url.js';

test('a sentinel URL names the sentinels, the master, the credentials and the db', () => {
  assert.deepEqual(
    parseSentinelUrl(
      'rediss+sentinel://app:p%40ss@10.0.0.1:26379,sentinel-b,[::1]:26380/orders?db=2&sentinelPassword=s3',
    ),
    {
      sentinels: [
        { host: '10.0.0.1', port: 26379 },
        { host: 'sentinel-b', port: 26379 },
        { host: '::1', port: 26380 },
      ],
      name: 'orders',
      username: 'app',
      password: 'p@ss',
      sentinelPassword: 's3',
      db: 2,
      tls: true,
    },
  );
  assert.deepEqual(parseSentinelUrl('redis+sentinel://:pw@127.0.0.1:26379/primary'), {
    sentinels: [{ host: '127.0.0.1', port: 26379 }],
    name: 'primary',
    password: 'pw',
    db: 0,
    tls: false,
  });
});

test('other URLs are not sentinel URLs; malformed ones are refused with the reason', () => {
  assert.equal(parseSentinelUrl('redis://127.0.0.1:6379'), undefined);
  assert.equal(parseSentinelUrl('rediss+cluster://cfg.example:6379'), undefined);
  for (const [url, why] of [
    ['redis+sentinel://h:26379', /no master name/],
    ['redis+sentinel://h:26379/', /master name ""/],
    ['redis+sentinel://h:99999/m', /sentinel address "h:99999"/],
    ['redis+sentinel://h:1,/m', /sentinel address ""/],
    ['redis+sentinel://h:1/m?db=16', /db "16"/],
    ['redis+sentinel://h:1/m?password=x', /unknown parameter password/],
  ] as const) {
    assert.throws(() => parseSentinelUrl(url), why, url);
  }
});

test('SPOT_RESCUE_REDIS_URL takes sentinel URLs with several sentinels, and the CLI never prints their passwords', () => {
  const url = 'redis+sentinel://:secret@a:26379,b:26379/primary?sentinelPassword=also-secret';
  assert.equal(readConfig(commonSettings, { SPOT_RESCUE_REDIS_URL: url }).redisUrl, url);
  assert.equal(redact(url), 'redis+sentinel://:***@a:26379,b:26379/primary?sentinelPassword=***');
  assert.throws(() => readConfig(commonSettings, { SPOT_RESCUE_REDIS_URL: 'not a url' }), /must be a URL/);
});
