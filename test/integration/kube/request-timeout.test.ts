import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { loadKubeConfig, makeApiClientWithTimeout } from '../../../services/common/kube.js';
import { stackEnv } from '../../support/stack.js';

/**
 * A Kubernetes API request that is never answered must not hold a rescue job
 * forever: the client gives up after its timeout. The silent peer is a TCP
 * server that accepts and never replies, as a dropped connection looks.
 */
describe('Kubernetes API requests with a timeout', () => {
  let silent: Server;
  const sockets: Socket[] = [];
  let port = 0;

  before(async () => {
    silent = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    port = (silent.address() as { port: number }).port;
  });

  after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => silent.close(r));
  });

  test('a request nobody answers fails after the timeout', async () => {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'silent', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
      users: [{ name: 'u', token: 't' }],
      contexts: [{ name: 'c', cluster: 'silent', user: 'u' }],
      currentContext: 'c',
    });
    const core = makeApiClientWithTimeout(kc, CoreV1Api, 300);
    const t0 = Date.now();
    await assert.rejects(core.readNamespacedPod({ namespace: 'default', name: 'x' }), /abort|timeout/i);
    const took = Date.now() - t0;
    assert.ok(took >= 250 && took < 5_000, `gave up after ${took} ms`);
    assert.ok(sockets.length >= 1, 'the request reached the silent server');
  });

  test('answers from the real API server still arrive', async () => {
    const core = makeApiClientWithTimeout(loadKubeConfig(stackEnv().kubeconfig), CoreV1Api, 10_000);
    const ns = await core.readNamespace({ name: 'default' });
    assert.equal(ns.metadata?.name, 'default');
  });
});
