/**
 * The Redis URL carries the AUTH password: the chart keeps it in a Secret and
 * the listener and the worker read it from there, so it is in no pod spec
 * (readable by anyone who may read Deployments) and in no helm-rendered env.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { exampleFiles, find, type K8sObject, renderChart } from './helm.js';

const NS = 'spot-rescue';
const minimal = exampleFiles.find((f) => f.endsWith('minimal.yaml'))!;
const url = 'rediss://:s3cret-token@master.example.cache.amazonaws.com:6379';

interface Env {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string } };
}

function redisEnv(objects: K8sObject[], component: string): Env {
  const d = find(objects, 'Deployment', `-${component}`) as unknown as {
    spec: { template: { spec: { containers: Array<{ env: Env[] }> } } };
  };
  const env = d.spec.template.spec.containers[0]!.env.find((e) => e.name === 'SPOT_RESCUE_REDIS_URL');
  assert.ok(env, `${component} has SPOT_RESCUE_REDIS_URL`);
  return env;
}

describe('chart: the Redis URL lives in a Secret', () => {
  it('puts redis.url in the chart Secret and nowhere else', () => {
    const objects = renderChart({ namespace: NS, values: [minimal], set: [`redis.url=${url}`] });
    const secret = find(objects, 'Secret', '-redis') as unknown as { stringData: Record<string, string> };
    assert.deepEqual(secret.stringData, { 'redis-url': url });
    for (const component of ['listener', 'worker']) {
      assert.deepEqual(redisEnv(objects, component), {
        name: 'SPOT_RESCUE_REDIS_URL',
        valueFrom: { secretKeyRef: { name: 'rescue-spot-rescue-redis', key: 'redis-url' } },
      });
    }
    const holders = objects
      .filter((o) => o.yaml.includes('s3cret-token'))
      .map((o) => `${o.kind}/${o.metadata.name}`);
    assert.deepEqual(holders, ['Secret/rescue-spot-rescue-redis']);
  });

  it('reads an existing Secret instead, and renders none of its own', () => {
    const objects = renderChart({
      namespace: NS,
      values: [minimal],
      set: ['redis.url=', 'redis.existingSecret=byo-redis', 'redis.existingSecretKey=url'],
    });
    assert.deepEqual(
      objects.filter((o) => o.kind === 'Secret' && o.metadata.name.endsWith('-redis')),
      [],
    );
    for (const component of ['listener', 'worker']) {
      assert.deepEqual(redisEnv(objects, component).valueFrom, {
        secretKeyRef: { name: 'byo-redis', key: 'url' },
      });
    }
  });

  it('refuses to render with neither a URL nor a Secret', () => {
    assert.throws(
      () => renderChart({ namespace: NS, values: [minimal], set: ['redis.url=', 'redis.existingSecret='] }),
      /redis.url \(or redis.existingSecret\) is required/,
    );
  });
});
