import assert from 'node:assert/strict';
import { test } from 'node:test';
import { z } from 'zod';
import {
  ConfigError,
  commonSettings,
  describeSettings,
  readConfig,
  setting,
  str,
} from '../../../services/common/config.js';

test('defaults apply when a variable is unset or empty', () => {
  const cfg = readConfig(commonSettings, { SPOT_RESCUE_LOG_LEVEL: '' });
  assert.equal(cfg.logLevel, 'info');
  assert.equal(cfg.redisUrl, 'redis://127.0.0.1:6379');
  assert.equal(cfg.opsPort, 9090);
  assert.equal(cfg.awsEndpoint, undefined);
});

test('values are parsed and coerced from strings', () => {
  const cfg = readConfig(commonSettings, {
    SPOT_RESCUE_OPS_PORT: '8081',
    SPOT_RESCUE_AWS_ENDPOINT: 'http://127.0.0.1:15000',
    SPOT_RESCUE_CLUSTER_NAME: 'prod-eu',
  });
  assert.equal(cfg.opsPort, 8081);
  assert.equal(cfg.awsEndpoint, 'http://127.0.0.1:15000');
  assert.equal(cfg.clusterName, 'prod-eu');
});

test('every problem is reported at once, each naming its variable and the value it got', () => {
  try {
    readConfig(commonSettings, {
      SPOT_RESCUE_OPS_PORT: '70000',
      SPOT_RESCUE_REDIS_URL: 'not a url',
      SPOT_RESCUE_LOG_LEVEL: 'loud',
    });
    assert.fail('expected a ConfigError');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.problems.length, 3);
    assert.match(err.message, /SPOT_RESCUE_OPS_PORT: .*got "70000"/);
    assert.match(err.message, /SPOT_RESCUE_REDIS_URL: must be a URL/);
    assert.match(err.message, /SPOT_RESCUE_LOG_LEVEL: .*got "loud"/);
  }
});

test('a required setting without a default says it is not set', () => {
  const spec = { queueUrl: setting('SPOT_RESCUE_QUEUE_URL', str.url(), 'the SQS queue') };
  assert.throws(() => readConfig(spec, {}), /SPOT_RESCUE_QUEUE_URL: .*not set; the SQS queue/);
});

test('booleans and lists', () => {
  const spec = { on: setting('X_ON', str.bool().default(false), ''), xs: setting('X_LIST', str.list(), '') };
  assert.deepEqual(readConfig(spec, { X_ON: 'yes', X_LIST: 'a, b,,c' }), { on: true, xs: ['a', 'b', 'c'] });
  assert.throws(() => readConfig(spec, { X_ON: 'maybe', X_LIST: '' }), /X_ON: must be true or false/);
});

test('describeSettings documents every variable with its default', () => {
  const doc = describeSettings({
    a: setting('A_VAR', z.string().default('x'), 'the a'),
    b: setting('B_VAR', z.string(), 'the b'),
    c: setting('C_VAR', z.string().optional(), 'the c, a | b'),
    d: setting('D_VAR', str.list(), 'the d'),
    e: setting('E_VAR', str.list().default(['p', 'q']), 'the e'),
  });
  assert.match(doc, /\| `A_VAR` \| `x` \| the a \|/);
  assert.match(doc, /\| `B_VAR` \| required \| the b \|/);
  assert.match(
    doc,
    /\| `C_VAR` \| unset \| the c, a \\\| b \|/,
    'optional is not required; a pipe in the text is escaped',
  );
  assert.match(doc, /\| `D_VAR` \| required \| the d \|/);
  assert.match(doc, /\| `E_VAR` \| `p,q` \| the e \|/);
});
