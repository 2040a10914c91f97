import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  AppsV1Api,
  AuthenticationV1Api,
  CoreV1Api,
  KubeConfig,
  PatchStrategy,
  PolicyV1Api,
  RbacAuthorizationV1Api,
  setHeaderOptions,
} from '@kubernetes/client-node';
import {
  createNamespace,
  createSimNodes,
  deleteNamespace,
  deleteSimNodes,
  SIM_NODE_LABEL,
  type SimNode,
} from '../../../infra/sim/cluster.js';
import { createEc2Client } from '../../../services/common/aws.js';
import { loadKubeConfig } from '../../../services/common/kube.js';
import { awsSettings, stackEnv, uniqueName, waitFor } from '../../support/stack.js';

const kc = loadKubeConfig(stackEnv().kubeconfig);
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);
const policy = kc.makeApiClient(PolicyV1Api);
const ec2 = createEc2Client(awsSettings());
const cluster = uniqueName('cp');
const ns = cluster;
let nodes: SimNode[] = [];

function statusCode(err: unknown): number | undefined {
  return (err as { code?: number }).code;
}

before(async () => {
  nodes = await createSimNodes({ kc, ec2 }, { cluster, count: 3, zones: ['us-east-1a', 'us-east-1b'] });
  await createNamespace(kc, ns);
});

after(async () => {
  await deleteNamespace(kc, ns);
  await deleteSimNodes({ kc, ec2 }, nodes);
});

test('simulated nodes are Ready, carry providerIDs of real moto instances, and EKS labels', async () => {
  for (const n of nodes) {
    const node = await core.readNode({ name: n.name });
    assert.equal(node.spec?.providerID, `aws:///${n.zone}/${n.instanceId}`);
    assert.equal(node.metadata?.labels?.['topology.kubernetes.io/zone'], n.zone);
    assert.equal(node.metadata?.labels?.['eks.amazonaws.com/capacityType'], 'SPOT');
    assert.ok(node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
  }
  assert.deepEqual(new Set(nodes.map((n) => n.zone)), new Set(['us-east-1a', 'us-east-1b']));
});

test("a Deployment's pods are scheduled onto the simulated nodes and reach Running", async () => {
  await apps.createNamespacedDeployment({
    namespace: ns,
    body: {
      metadata: { name: 'web' },
      spec: {
        replicas: 3,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: {
            nodeSelector: { [SIM_NODE_LABEL]: cluster },
            containers: [{ name: 'web', image: 'registry.local/web:1' }],
          },
        },
      },
    },
  });
  const pods = await waitFor('3 running pods', async () => {
    const list = await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=web' });
    const running = list.items.filter((p) => p.status?.phase === 'Running');
    return running.length === 3 ? running : undefined;
  });
  const names = new Set(nodes.map((n) => n.name));
  for (const p of pods)
    assert.ok(names.has(p.spec?.nodeName ?? ''), `${p.metadata?.name} runs on a simulated node`);
  const rs = await apps.readNamespacedDeployment({ name: 'web', namespace: ns });
  await waitFor('the Deployment to report 3 ready replicas', async () => {
    const d = await apps.readNamespacedDeployment({ name: 'web', namespace: ns });
    return d.status?.readyReplicas === 3;
  });
  assert.equal(rs.spec?.replicas, 3);
});

test('a pod on a cordoned node can be evicted, and a PDB makes the Eviction API answer 429', async () => {
  const target = nodes[0] as SimNode;
  await core.patchNode(
    { name: target.name, body: { spec: { unschedulable: true } } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
  const mk = (name: string, app: string) =>
    core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name, labels: { app } },
        spec: { nodeName: target.name, containers: [{ name: 'c', image: 'registry.local/c:1' }] },
      },
    });
  await mk('free', 'free');
  await mk('guarded', 'guarded');
  await policy.createNamespacedPodDisruptionBudget({
    namespace: ns,
    body: {
      metadata: { name: 'guard' },
      spec: { minAvailable: 1, selector: { matchLabels: { app: 'guarded' } } },
    },
  });
  for (const name of ['free', 'guarded']) {
    await waitFor(`${name} running`, async () => {
      const p = await core.readNamespacedPod({ name, namespace: ns });
      return p.status?.phase === 'Running';
    });
  }
  await waitFor('the PDB to observe its pod', async () => {
    const pdb = await policy.readNamespacedPodDisruptionBudget({ name: 'guard', namespace: ns });
    return pdb.status?.observedGeneration === 1 && pdb.status.currentHealthy === 1;
  });

  await core.createNamespacedPodEviction({
    name: 'free',
    namespace: ns,
    body: { metadata: { name: 'free', namespace: ns } },
  });
  await waitFor('the evicted pod to be gone', async () => {
    try {
      await core.readNamespacedPod({ name: 'free', namespace: ns });
      return false;
    } catch (err) {
      return statusCode(err) === 404;
    }
  });

  const refused = await core
    .createNamespacedPodEviction({
      name: 'guarded',
      namespace: ns,
      body: { metadata: { name: 'guarded', namespace: ns } },
    })
    .then(() => 200)
    .catch((err) => statusCode(err));
  assert.equal(refused, 429);
  const still = await core.readNamespacedPod({ name: 'guarded', namespace: ns });
  assert.equal(still.metadata?.deletionTimestamp, undefined);
});

test('TokenReview accepts a ServiceAccount token and rejects a random string', async () => {
  const auth = kc.makeApiClient(AuthenticationV1Api);
  await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'worker' } } });
  const tr = await core.createNamespacedServiceAccountToken({
    name: 'worker',
    namespace: ns,
    body: { spec: { audiences: ['spot-rescue-agent'], expirationSeconds: 600 } },
  });
  const token = tr.status?.token as string;
  const ok = await auth.createTokenReview({ body: { spec: { token, audiences: ['spot-rescue-agent'] } } });
  assert.equal(ok.status?.authenticated, true);
  assert.equal(ok.status?.user?.username, `system:serviceaccount:${ns}:worker`);

  const wrongAudience = await auth.createTokenReview({
    body: { spec: { token, audiences: ['something-else'] } },
  });
  assert.notEqual(wrongAudience.status?.authenticated, true);
  const bogus = await auth.createTokenReview({ body: { spec: { token: 'not-a-token-at-all' } } });
  assert.notEqual(bogus.status?.authenticated, true);
});

test('RBAC: a ServiceAccount whose role lacks pods/eviction gets 403 on eviction', async () => {
  const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
  const role = `${ns}-pod-reader`;
  await rbac.createClusterRole({
    body: {
      metadata: { name: role },
      rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }],
    },
  });
  try {
    await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'reader' } } });
    await rbac.createNamespacedRoleBinding({
      namespace: ns,
      body: {
        metadata: { name: 'reader' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
        subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace: ns }],
      },
    });
    await core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: 'victim' },
        spec: {
          nodeName: (nodes[1] as SimNode).name,
          containers: [{ name: 'c', image: 'registry.local/c:1' }],
        },
      },
    });
    const tr = await core.createNamespacedServiceAccountToken({
      name: 'reader',
      namespace: ns,
      body: { spec: { audiences: [], expirationSeconds: 600 } },
    });
    const asReader = new KubeConfig();
    asReader.loadFromOptions({
      clusters: kc.clusters,
      users: [{ name: 'reader', token: tr.status?.token as string }],
      contexts: [{ name: 'reader', cluster: kc.getCurrentCluster()?.name as string, user: 'reader' }],
      currentContext: 'reader',
    });
    const readerCore = asReader.makeApiClient(CoreV1Api);
    const read = await readerCore.readNamespacedPod({ name: 'victim', namespace: ns });
    assert.equal(read.metadata?.name, 'victim', 'the role does grant what it lists');
    const code = await readerCore
      .createNamespacedPodEviction({
        name: 'victim',
        namespace: ns,
        body: { metadata: { name: 'victim', namespace: ns } },
      })
      .then(() => 201)
      .catch((err) => statusCode(err));
    assert.equal(code, 403);
  } finally {
    await rbac.deleteClusterRole({ name: role }).catch(() => undefined);
  }
});
