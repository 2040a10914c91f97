import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CoreV1Api, KubeConfig, type V1Node, type V1Pod } from '@kubernetes/client-node';
import { readConfig } from '../../../services/common/config.js';
import { newJobSigningKeyFile } from '../../../services/common/job-signing-key.js';
import { createLogger } from '../../../services/common/logger.js';
import { createMetricsRegistry } from '../../../services/common/metrics.js';
import type { Cluster } from '../../../services/worker/cluster.js';
import { CachedCluster, PodsByNodeWithAssumed, trimPod } from '../../../services/worker/cluster-cache.js';
import { occupiesNode, ownerKey } from '../../../services/worker/node-view.js';
import { podRequests } from '../../../services/worker/pod-resources.js';
import {
  allWorkerSettings,
  type FullWorkerConfig,
  startWorkerService,
} from '../../../services/worker/service.js';

function pod(name: string, node: string | undefined, uid = `uid-${name}`, cpu = '100m'): V1Pod {
  return {
    metadata: { name, namespace: 'ns', uid, resourceVersion: '1' },
    spec: {
      ...(node ? { nodeName: node } : {}),
      containers: [{ name: 'c', resources: { requests: { cpu, memory: '64Mi' } } }],
    },
    status: { phase: 'Running' },
  };
}

const names = (pods: V1Pod[]) => pods.map((p) => `${p.metadata?.name}@${p.metadata?.uid}`).sort();

/** A kubeconfig for an API server nobody listens on. */
// Port 2: nothing listens there, and fetch does not refuse it up front as it
// does the "bad ports" (1, 7, 9, ...), so the connection itself is refused.
function deadKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'dead', server: 'http://127.0.0.1:2', skipTLSVerify: true }],
    users: [{ name: 'u' }],
    contexts: [{ name: 'dead', cluster: 'dead', user: 'u' }],
    currentContext: 'dead',
  });
  return kc;
}

describe('pods by node', () => {
  it('follows pods as they are bound, moved and deleted', () => {
    const idx = new PodsByNodeWithAssumed();
    idx.upsert(pod('a', undefined));
    assert.deepEqual(idx.on(['n1', 'n2']), []);
    idx.upsert(pod('a', 'n1'));
    idx.upsert(pod('b', 'n2'));
    assert.deepEqual(names(idx.on(['n1'])), ['a@uid-a']);
    assert.deepEqual(names(idx.on(['n1', 'n2'])), ['a@uid-a', 'b@uid-b']);
    idx.upsert(pod('a', 'n2'));
    assert.deepEqual(names(idx.on(['n1'])), []);
    assert.deepEqual(names(idx.on(['n2'])), ['a@uid-a', 'b@uid-b']);
    idx.remove(pod('a', 'n2'));
    assert.deepEqual(names(idx.on(['n1', 'n2'])), ['b@uid-b']);
    assert.equal(idx.size(), 1);
  });

  it('a pod replaced under the same name (new uid) takes its entry, not a second one', () => {
    const idx = new PodsByNodeWithAssumed();
    idx.upsert(pod('s-0', 'n1', 'old'));
    idx.upsert(pod('s-0', 'n2', 'new'));
    assert.deepEqual(names(idx.on(['n1', 'n2'])), ['s-0@new']);
  });

  it('counts a pod it created until the watch shows it, once', () => {
    let now = 0;
    const idx = new PodsByNodeWithAssumed(() => now, 1000);
    idx.assume(pod('r', 'n1'));
    assert.deepEqual(names(idx.on(['n1'])), ['r@uid-r'], 'counted before the watch event');
    assert.deepEqual(idx.on(['n2']), []);
    idx.upsert(pod('r', 'n1'));
    assert.deepEqual(names(idx.on(['n1'])), ['r@uid-r'], 'counted once after it');
    idx.remove(pod('r', 'n1'));
    assert.deepEqual(idx.on(['n1']), [], 'gone once deleted');

    idx.assume(pod('q', 'n1'));
    now = 999;
    assert.equal(idx.on(['n1']).length, 1);
    now = 1000;
    assert.deepEqual(idx.on(['n1']), [], 'an assumption the watch never confirms expires');

    idx.upsert(pod('p', 'n1'));
    idx.assume(pod('p', 'n1'));
    assert.equal(idx.on(['n1']).length, 1, 'a pod already seen is not assumed again');
  });

  it('a deleted pod drops a pending assumption with the same uid', () => {
    const idx = new PodsByNodeWithAssumed();
    idx.assume(pod('r', 'n1'));
    idx.remove(pod('r', 'n1'));
    assert.deepEqual(idx.on(['n1']), []);
  });
});

describe('trimPod', () => {
  it('keeps what placement counts and drops the rest', () => {
    const full: V1Pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: 'p',
        namespace: 'ns',
        uid: 'u',
        resourceVersion: '7',
        labels: { app: 'x' },
        annotations: { big: 'x'.repeat(1000) },
        managedFields: [{ manager: 'kubectl', operation: 'Apply' }],
        ownerReferences: [
          { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: 'o', controller: true },
        ],
      },
      spec: {
        nodeName: 'n1',
        overhead: { cpu: '10m' },
        containers: [
          {
            name: 'c',
            image: 'img',
            env: [{ name: 'A', value: 'b' }],
            resources: { requests: { cpu: '250m', memory: '128Mi' }, limits: { memory: '256Mi' } },
          },
        ],
        initContainers: [
          { name: 'i', image: 'img', restartPolicy: 'Always', resources: { requests: { cpu: '1' } } },
        ],
        volumes: [{ name: 'v', emptyDir: {} }],
      },
      status: { phase: 'Running', containerStatuses: [], podIP: '10.0.0.1' },
    };
    const before = { requests: podRequests(full), owner: ownerKey(full), occupies: occupiesNode(full) };
    trimPod(full);
    assert.deepEqual(
      { requests: podRequests(full), owner: ownerKey(full), occupies: occupiesNode(full) },
      before,
    );
    assert.equal(full.metadata?.managedFields, undefined);
    assert.equal(full.metadata?.annotations, undefined);
    assert.equal(full.metadata?.resourceVersion, '7', 'the informer compares versions');
    assert.equal(full.spec?.containers[0]?.env, undefined);
    assert.equal(full.spec?.volumes, undefined);
    assert.equal(full.spec?.initContainers?.[0]?.restartPolicy, 'Always');
    assert.deepEqual(full.status, { phase: 'Running' });
    assert.equal(full.kind, 'Pod');
  });
});

describe('CachedCluster without its API server', () => {
  const fake = (calls: string[]): Cluster =>
    ({
      listNodes: async () => {
        calls.push('listNodes');
        return [] as V1Node[];
      },
      getNode: async () => {
        calls.push('getNode');
        return null;
      },
      listPodsOnNodes: async () => {
        calls.push('listPodsOnNodes');
        return [];
      },
    }) as unknown as Cluster;

  it('reads through to the API while not synced', async () => {
    const calls: string[] = [];
    const kc = deadKubeConfig();
    const c = new CachedCluster(kc, kc.makeApiClient(CoreV1Api), fake(calls));
    await c.listNodes();
    await c.getNode('n');
    await c.listPodsOnNodes(['n']);
    assert.deepEqual(calls, ['listNodes', 'getNode', 'listPodsOnNodes']);
    assert.equal(c.synced(), false);
    await c.stop();
  });

  it('start() fails after its timeout naming each informer and the last error, and stops them', async () => {
    const kc = deadKubeConfig();
    const c = new CachedCluster(kc, kc.makeApiClient(CoreV1Api), fake([]), { restartDelayMs: 50 });
    const t0 = Date.now();
    await assert.rejects(c.start(400), (err: Error) => {
      assert.match(err.message, /^worker cluster cache: /);
      assert.match(err.message, /informer \/api\/v1\/nodes not synced after 400 ms/);
      assert.match(
        err.message,
        /informer \/api\/v1\/pods \(status\.phase!=Succeeded,status\.phase!=Failed\) not synced/,
      );
      assert.match(err.message, /ECONNREFUSED/);
      return true;
    });
    assert.ok(Date.now() - t0 < 3000);
    assert.equal(c.synced(), false);
  });

  it('startWorkerService fails with the cache error before connecting to anything else', async () => {
    const config = readConfig(allWorkerSettings, {
      SPOT_RESCUE_REDIS_URL: 'redis://127.0.0.1:1',
      SPOT_RESCUE_AGENT_LOCATOR: 'static',
      SPOT_RESCUE_WORKER_SERVICE_ACCOUNT: 'system:serviceaccount:spot-rescue:spot-rescue-worker',
      SPOT_RESCUE_WORKER_CACHE_SYNC_TIMEOUT_SECONDS: '1',
      SPOT_RESCUE_JOB_SIGNING_KEY_FILE: newJobSigningKeyFile(),
    }) as FullWorkerConfig;
    await assert.rejects(
      startWorkerService(config, {
        kubeConfig: deadKubeConfig(),
        log: createLogger('worker', 'silent'),
        registry: createMetricsRegistry('worker', false),
      }),
      /worker cluster cache: .*not synced after 1000 ms/,
    );
  });
});
