import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { BatchV1Api, CoreV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { loadKubeConfig } from '../../../services/common/kube.js';
import { TAINT_KEY } from '../../../services/common/labels.js';
import { KubeNodeTainter } from '../../../services/listener/node-taint.js';
import { KubeCluster } from '../../../services/worker/cluster.js';
import { CachedCluster } from '../../../services/worker/cluster-cache.js';
import { nodeView } from '../../../services/worker/node-view.js';
import { stackEnv, uniqueName, waitFor } from '../../support/stack.js';

const TEST_LABEL = 'spot-rescue.io/cluster-cache-test';

/** A CoreV1Api that records the name of every call made through it. */
function counting(core: CoreV1Api): { core: CoreV1Api; calls: string[] } {
  const calls: string[] = [];
  const proxy = new Proxy(core, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        calls.push(String(prop));
        return v.apply(target, args);
      };
    },
  });
  return { core: proxy, calls };
}

/** Runs an ESM script (tsx) in a child process; -1 if it has not exited after 30 s. */
async function runScript(script: string): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    env: process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const code = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve(-1);
    }, 30_000);
    child.on('exit', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  return { code, out };
}

describe('the worker cluster cache against the API server', () => {
  const run = uniqueName('cc');
  const ns = run;
  const nodeA = `${run}-a`;
  const nodeB = `${run}-b`;
  let kc: KubeConfig;
  let core: CoreV1Api;
  let batch: BatchV1Api;
  let direct: { core: CoreV1Api; calls: string[] };
  let cache: CachedCluster;

  async function createNode(name: string) {
    await core.createNode({
      body: {
        metadata: {
          name,
          labels: { 'kubernetes.io/hostname': name, type: 'kwok', [TEST_LABEL]: run },
          annotations: { 'kwok.x-k8s.io/node': 'fake' },
        },
        status: {
          capacity: { cpu: '4', memory: '16Gi', pods: '110' },
          allocatable: { cpu: '4', memory: '16Gi', pods: '110' },
        },
      },
    });
  }

  const podOn = (name: string, node: string): V1Pod => ({
    metadata: { name, namespace: ns },
    spec: {
      nodeName: node,
      containers: [{ name: 'c', image: 'x', resources: { requests: { cpu: '250m', memory: '64Mi' } } }],
    },
  });
  const onNode = async (node: string) =>
    (await cache.listPodsOnNodes([node])).map((p) => p.metadata?.name ?? '');

  before(async () => {
    kc = loadKubeConfig(stackEnv().kubeconfig);
    core = kc.makeApiClient(CoreV1Api);
    batch = kc.makeApiClient(BatchV1Api);
    await core.createNamespace({ body: { metadata: { name: ns } } });
    await createNode(nodeA);
    direct = counting(kc.makeApiClient(CoreV1Api));
    cache = new CachedCluster(kc, core, new KubeCluster(direct.core));
    const sync = await cache.start(30_000);
    assert.ok(cache.synced());
    assert.ok(sync.nodes >= 1);
  });

  after(async () => {
    await cache?.stop();
    await core.deleteNamespace({ name: ns }).catch(() => {});
    for (const name of [nodeA, nodeB]) await core.deleteNode({ name }).catch(() => {});
  });

  it('sees a node created after it started, and its Ready condition', async () => {
    await createNode(nodeB);
    const n = await waitFor('the new node in the cache', async () => {
      const got = await cache.getNode(nodeB);
      return got && nodeView(got).ready ? got : null;
    });
    assert.equal(n.metadata?.name, nodeB);
    assert.ok((await cache.listNodes()).some((x) => x.metadata?.name === nodeB));
    assert.equal(await cache.getNode(`${run}-none`), null);
  });

  it('sees a node cordoned and tainted', async () => {
    // As the listener does it, by its own tainter.
    await new KubeNodeTainter(core).taintAndCordon(await core.readNode({ name: nodeB }), 'spot-interruption');
    const v = await waitFor('the cordon in the cache', async () => {
      const n = await cache.getNode(nodeB);
      const view = n ? nodeView(n) : null;
      return view?.unschedulable && view.taints.some((t) => t.key === TAINT_KEY) ? view : null;
    });
    assert.equal(v.name, nodeB);
  });

  it('sees a pod bound to a node, holding only placement fields, then sees it deleted', async () => {
    await core.createNamespacedPod({ namespace: ns, body: podOn('bound', nodeA) });
    await waitFor('the pod in the cache', async () => (await onNode(nodeA)).includes('bound'));
    const cached = (await cache.listPodsOnNodes([nodeA])).find((p) => p.metadata?.name === 'bound');
    assert.equal(cached?.spec?.containers[0]?.resources?.requests?.['cpu'], '250m');
    assert.equal(cached?.metadata?.managedFields, undefined, 'trimmed');
    assert.equal(cached?.spec?.containers[0]?.image, undefined, 'trimmed');
    assert.deepEqual(await onNode(nodeB), []);

    await core.deleteNamespacedPod({ namespace: ns, name: 'bound', gracePeriodSeconds: 0 });
    await waitFor('the pod gone from the cache', async () => !(await onNode(nodeA)).includes('bound'));
  });

  it('counts a pod it created itself at once, before its watch event', async () => {
    const created = await cache.createPod(podOn('mine', nodeA));
    assert.ok((await onNode(nodeA)).includes('mine'), 'counted as soon as create returned');
    await waitFor('the watch event', async () => (await onNode(nodeA)).includes('mine'));
    assert.equal((await onNode(nodeA)).filter((n) => n === 'mine').length, 1, 'counted once');
    assert.ok(await cache.deletePod(ns, 'mine', created.metadata?.uid ?? '', 0));
    await waitFor('the pod gone from the cache', async () => !(await onNode(nodeA)).includes('mine'));
  });

  it('drops a pod once it has finished (the field selector), while the API still lists it', async () => {
    await batch.createNamespacedJob({
      namespace: ns,
      body: {
        metadata: { name: 'done' },
        spec: {
          template: {
            spec: {
              restartPolicy: 'Never',
              nodeSelector: { 'kubernetes.io/hostname': nodeA },
              containers: [{ name: 'c', image: 'x' }],
            },
          },
        },
      },
    });
    const finished = await waitFor(
      'the Job pod Succeeded',
      async () => {
        const pods = (await core.listNamespacedPod({ namespace: ns, labelSelector: 'job-name=done' })).items;
        return pods.find((p) => p.status?.phase === 'Succeeded');
      },
      { timeoutMs: 60_000 },
    );
    const name = finished.metadata?.name ?? '';
    await waitFor('the finished pod gone from the cache', async () => !(await onNode(nodeA)).includes(name));
    const api = new KubeCluster(core);
    assert.ok((await api.listPodsOnNodes([nodeA])).some((p) => p.metadata?.name === name));
  });

  it("answers placement's reads without calling the API server (the direct path's calls counted)", async (t) => {
    const nodes = [nodeA, nodeB];
    // What one placement attempt reads: every node, the pods on each candidate, a held target.
    const reads = async (c: {
      listNodes(): Promise<unknown>;
      listPodsOnNodes(n: string[]): Promise<unknown>;
    }) => {
      await c.listNodes();
      await c.listPodsOnNodes(nodes);
    };
    direct.calls.length = 0;
    await reads(cache);
    await cache.getNode(nodeA);
    assert.deepEqual(direct.calls, [], 'no API call from the cache');

    const api = new KubeCluster(direct.core);
    await reads(api);
    await api.getNode(nodeA);
    assert.deepEqual(direct.calls.sort(), [
      'listNode',
      'listPodForAllNamespaces',
      'listPodForAllNamespaces',
      'readNode',
    ]);
    t.diagnostic(
      `per placement attempt with ${nodes.length} candidate nodes: ${direct.calls.length} API calls direct, 0 cached`,
    );
  });

  it('stops its informers: a process that starts and stops it exits by itself', async () => {
    const { code, out } = await runScript(`
      import { CoreV1Api } from '@kubernetes/client-node';
      import { loadKubeConfig } from './services/common/kube.ts';
      import { KubeCluster } from './services/worker/cluster.ts';
      import { CachedCluster } from './services/worker/cluster-cache.ts';
      const kc = loadKubeConfig(process.env.KUBECONFIG);
      const core = kc.makeApiClient(CoreV1Api);
      const c = new CachedCluster(kc, core, new KubeCluster(core));
      const s = await c.start(30000);
      console.log('synced', s.nodes, (await c.listNodes()).length);
      await c.stop();
    `);
    assert.equal(code, 0, `the process should exit on its own after stop(); output:\n${out}`);
    assert.match(out, /^synced \d+ \d+/m);
  });

  it("the worker service waits for the cache's sync, and exits by itself after close()", async () => {
    const { code, out } = await runScript(`
      import { readConfig } from './services/common/config.ts';
      import { createMetricsRegistry } from './services/common/metrics.ts';
      import { allWorkerSettings, startWorkerService } from './services/worker/service.ts';
      import { newJobSigningKeyFile } from './services/common/job-signing-key.ts';
      const config = readConfig(allWorkerSettings, {
        ...process.env,
        SPOT_RESCUE_QUEUE_PREFIX: '${uniqueName('cc-svc')}',
        SPOT_RESCUE_AGENT_LOCATOR: 'static',
        SPOT_RESCUE_WORKER_SERVICE_ACCOUNT: 'system:serviceaccount:spot-rescue:spot-rescue-worker',
        SPOT_RESCUE_LOG_LEVEL: 'info',
        SPOT_RESCUE_JOB_SIGNING_KEY_FILE: newJobSigningKeyFile(),
      });
      const svc = await startWorkerService(config, { registry: createMetricsRegistry('worker', false) });
      await svc.close();
    `);
    assert.equal(code, 0, `the worker process should exit on its own after close(); output:\n${out}`);
    const lines = out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const synced = lines.findIndex((l) => l['msg'] === 'cluster cache synced');
    const started = lines.findIndex((l) => l['msg'] === 'worker started');
    assert.ok(synced >= 0 && started > synced, `synced before started; output:\n${out}`);
    assert.equal(typeof lines[synced]?.['syncMs'], 'number');
  });
});
