import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { loadKubeConfig, makeApiClientWithTimeout } from '../../../services/common/kube.js';
import { withKeepAlive } from '../../../services/listener/kube-keepalive.js';
import { stackEnv } from '../../support/stack.js';

/**
 * Kubernetes API requests share kept-alive connections to the real API server
 * instead of paying a TCP and TLS handshake each (and leaving each connection
 * idle for seconds after). A TCP relay in
 * front of the API server counts the connections; TLS runs end to end through
 * it, with the stack's own CA and client certificate.
 */
describe('Kubernetes API connections kept alive', () => {
  let relay: Server;
  const open = new Set<Socket>();
  let connections = 0;
  let server = '';
  /** Holds each answer this long, so that a burst keeps many requests in flight at once. */
  let answerDelayMs = 0;

  before(async () => {
    const upstream = new URL(loadKubeConfig(stackEnv().kubeconfig).getCurrentCluster()!.server);
    relay = createServer((client) => {
      connections++;
      open.add(client);
      const up = connect(Number(upstream.port), upstream.hostname);
      open.add(up);
      client.pipe(up);
      // Same delay for every chunk: they still arrive in order.
      up.on('data', (chunk) => setTimeout(() => client.write(chunk), answerDelayMs));
      const close = () => {
        client.destroy();
        up.destroy();
        open.delete(client);
        open.delete(up);
      };
      client.on('error', close).on('close', close);
      up.on('error', close).on('close', close);
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
    server = `https://127.0.0.1:${(relay.address() as { port: number }).port}`;
  });

  after(async () => {
    for (const s of open) s.destroy();
    await new Promise((r) => relay.close(r));
  });

  /** The stack's kubeconfig, dialling the relay. */
  const relayedKubeConfig = (): KubeConfig => {
    const stack = loadKubeConfig(stackEnv().kubeconfig);
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: stack.getClusters().map((c) => ({ ...c, server })),
      users: stack.getUsers(),
      contexts: stack.getContexts(),
      currentContext: stack.getCurrentContext(),
    });
    return kc;
  };

  const counting = async (f: () => Promise<unknown>) => {
    const before = connections;
    await f();
    return connections - before;
  };

  test('without it the client library opens a connection per request (why it exists)', async () => {
    const core = relayedKubeConfig().makeApiClient(CoreV1Api);
    const opened = await counting(async () => {
      for (let i = 0; i < 5; i++) await core.readNamespace({ name: 'default' });
    });
    assert.equal(opened, 5);
  });

  test('the listener: sequential requests share one connection', async () => {
    const core = withKeepAlive(relayedKubeConfig()).makeApiClient(CoreV1Api);
    const opened = await counting(async () => {
      for (let i = 0; i < 30; i++) {
        const ns = await core.readNamespace({ name: 'default' });
        assert.equal(ns.metadata?.name, 'default');
      }
    });
    assert.equal(opened, 1);
  });

  test('the listener: a burst of concurrent requests all succeed over a few connections', async () => {
    const core = withKeepAlive(relayedKubeConfig()).makeApiClient(CoreV1Api);
    answerDelayMs = 300;
    const opened = await counting(async () => {
      const all = await Promise.all(
        Array.from({ length: 150 }, () => core.readNamespace({ name: 'kube-system' })),
      );
      assert.ok(all.every((ns) => ns.metadata?.name === 'kube-system'));
    });
    answerDelayMs = 0;
    // HTTP/2 multiplexes them; without sharing it would be one connection each.
    assert.ok(opened >= 1 && opened <= 4, `${opened} connections for 150 requests`);
  });

  test('API clients with a timeout (the worker): sequential requests share one connection', async () => {
    const core = makeApiClientWithTimeout(relayedKubeConfig(), CoreV1Api, 10_000);
    const opened = await counting(async () => {
      for (let i = 0; i < 30; i++) await core.readNamespace({ name: 'default' });
    });
    assert.equal(opened, 1);
  });
});
