/**
 * The chart's ValidatingAdmissionPolicies enforced by the real kube-apiserver
 * of the local stack: the chart's ServiceAccounts, RBAC, policies and
 * bindings are applied for real, then requests are made as the worker's and
 * the listener's ServiceAccounts (impersonated by the stack's admin, so RBAC
 * and admission see exactly those identities). Pod writes use dryRun=All:
 * admission runs in full and nothing is persisted.
 */
import assert from 'node:assert/strict';
import https from 'node:https';
import { after, before, describe, it } from 'node:test';
import { KubeConfig, type V1Node, type V1Pod } from '@kubernetes/client-node';
import { MIGRATE_ANNOTATION, NAMESPACE_OPT_IN_LABEL, TAINT_KEY } from '../../../services/common/labels.js';
import { taintPatch } from '../../../services/listener/node-taint.js';
import { demandPlaceholder } from '../../../services/worker/migrate/demand.js';
import { RECREATED_FROM_ANNOTATION } from '../../../services/worker/migrate/fallback.js';
import { adoptionPatch, buildRestoredPod } from '../../../services/worker/restored-pod.js';
import { stackEnv, uniqueName } from '../../support/stack.js';
import { exampleFiles, type K8sObject, kubeRequest, renderChart, resourceFor } from './helm.js';

const release = 'vap';
const ns = uniqueName('sr-vap');
const appNs = uniqueName('sr-vap-app');
const optedInNs = uniqueName('sr-vap-optns');
/** Not granted by the chart: its owner grants restore-as on one ServiceAccount with a Role of their own. */
const ownerGrantNs = uniqueName('sr-vap-grant');
const nodeName = uniqueName('sr-vap-node');
const minimal = exampleFiles.find((f) => f.endsWith('minimal.yaml'))!;

interface Identity {
  user: string;
  groups: string[];
}

function serviceAccount(component: string): Identity {
  return {
    user: `system:serviceaccount:${ns}:${release}-spot-rescue-${component}`,
    groups: ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated'],
  };
}
const worker = serviceAccount('worker');
const listener = serviceAccount('listener');

interface Answer {
  status: number;
  body: { message?: string } & Record<string, unknown>;
}

/** A request to the local kube-apiserver as the admin impersonating `as` (or as the admin itself). */
async function request(
  as: Identity | undefined,
  method: string,
  path: string,
  body?: unknown,
  contentType = 'application/json',
): Promise<Answer> {
  const kc = new KubeConfig();
  kc.loadFromFile(stackEnv().kubeconfig);
  const server = new URL(kc.getCurrentCluster()!.server);
  const headers: Record<string, string | string[]> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = contentType;
  if (as) {
    headers['impersonate-user'] = as.user;
    headers['impersonate-group'] = as.groups;
  }
  const opts: https.RequestOptions = { method, hostname: server.hostname, port: server.port, path, headers };
  await kc.applyToHTTPSOptions(opts);
  return new Promise<Answer>((resolve, reject) => {
    const req = https.request(opts, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: Answer['body'] = { message: text };
        try {
          parsed = JSON.parse(text) as Answer['body'];
        } catch {}
        resolve({ status: res.statusCode ?? 0, body: parsed });
      });
    });
    req.on('error', reject);
    req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${path} timed out`)));
    if (body !== undefined) req.write(typeof body === 'string' ? body : JSON.stringify(body));
    req.end();
  });
}

async function apply(obj: K8sObject): Promise<void> {
  const res = await resourceFor(obj.apiVersion, obj.kind);
  if (!res) throw new Error(`the API server does not serve ${obj.apiVersion} ${obj.kind}`);
  const base = obj.apiVersion.includes('/') ? `/apis/${obj.apiVersion}` : `/api/${obj.apiVersion}`;
  const scope = res.namespaced ? `/namespaces/${obj.metadata.namespace}` : '';
  const r = await kubeRequest(
    'PATCH',
    `${base}${scope}/${res.name}/${obj.metadata.name}?fieldManager=spot-rescue-vap-test&force=true`,
    obj.yaml,
    'application/apply-patch+yaml',
  );
  assert.ok(r.status < 300, `apply ${obj.kind} ${obj.metadata.name}: ${JSON.stringify(r.body)}`);
}

function createPodAs(as: Identity, pod: V1Pod): Promise<Answer> {
  return request(as, 'POST', `/api/v1/namespaces/${pod.metadata?.namespace}/pods?dryRun=All`, pod);
}

function patchPodAs(as: Identity, namespace: string, name: string, patch: object): Promise<Answer> {
  return request(
    as,
    'PATCH',
    `/api/v1/namespaces/${namespace}/pods/${name}?dryRun=All`,
    patch,
    'application/merge-patch+json',
  );
}

function patchNodeAs(
  as: Identity,
  patch: object,
  contentType = 'application/merge-patch+json',
): Promise<Answer> {
  return request(as, 'PATCH', `/api/v1/nodes/${nodeName}?dryRun=All`, patch, contentType);
}

/** A running pod as the worker reads it from the API server (uid, node, defaults filled in). */
function original(namespace: string, name: string, annotations: Record<string, string> = {}): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, uid: `uid-${name}`, annotations, labels: { app: name } },
    spec: {
      nodeName: 'source-node',
      containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.10' }],
    },
  };
}

function restoredCopyOf(pod: V1Pod): V1Pod {
  return buildRestoredPod({
    original: pod,
    targetNode: 'target-node',
    checkpointId: 'ck-0123456789abcdef0123',
  });
}

const optedIn = { [MIGRATE_ANNOTATION]: 'true' };

function assertDenied(r: Answer, fragment: string): void {
  assert.equal(r.status, 403, `expected a denial, got ${r.status}: ${JSON.stringify(r.body)}`);
  assert.match(r.body.message ?? '', new RegExp(fragment), JSON.stringify(r.body));
  assert.match(r.body.message ?? '', /ValidatingAdmissionPolicy/, 'denied by the policy, not by RBAC');
}

function assertAdmitted(r: Answer): void {
  assert.ok(
    r.status === 200 || r.status === 201,
    `expected admission, got ${r.status}: ${JSON.stringify(r.body)}`,
  );
}

describe('chart: admission policies against the real kube-apiserver', () => {
  let chart: K8sObject[] = [];

  before(async () => {
    for (const [name, labels] of [
      [ns, {}],
      [appNs, {}],
      [optedInNs, { [NAMESPACE_OPT_IN_LABEL]: 'enabled' }],
      [ownerGrantNs, {}],
    ] as const) {
      const r = await kubeRequest('POST', '/api/v1/namespaces', {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name, labels },
      });
      assert.equal(r.status, 201, `create namespace ${name}: ${JSON.stringify(r.body)}`);
    }
    chart = renderChart({
      release,
      namespace: ns,
      values: [minimal],
      set: [`restoreServiceAccounts.namespaces={${appNs},${optedInNs}}`],
    });
    const wanted = [
      'ServiceAccount',
      'ClusterRole',
      'ClusterRoleBinding',
      'RoleBinding',
      'ValidatingAdmissionPolicy',
      'ValidatingAdmissionPolicyBinding',
    ];
    for (const obj of chart.filter((o) => wanted.includes(o.kind) && o.kind !== 'RoleBinding'))
      await apply(obj);
    for (const obj of chart.filter(
      (o) => o.kind === 'RoleBinding' && o.metadata.name.endsWith('-restore-as'),
    ))
      await apply(obj);
    for (const [namespace, names] of [
      [appNs, ['any-sa']],
      [ownerGrantNs, ['granted-sa', 'other-sa']],
    ] as const) {
      for (const name of names) {
        const r = await kubeRequest('POST', `/api/v1/namespaces/${namespace}/serviceaccounts`, {
          apiVersion: 'v1',
          kind: 'ServiceAccount',
          metadata: { name },
        });
        assert.equal(r.status, 201, `create ServiceAccount ${name}: ${JSON.stringify(r.body)}`);
      }
    }
    // What a namespace owner (or the platform team) writes to let the worker restore one ServiceAccount.
    const grant = await kubeRequest(
      'POST',
      `/apis/rbac.authorization.k8s.io/v1/namespaces/${ownerGrantNs}/roles`,
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: { name: 'spot-rescue-restore-as' },
        rules: [
          {
            apiGroups: [''],
            resources: ['serviceaccounts'],
            verbs: ['restore-as'],
            resourceNames: ['granted-sa'],
          },
        ],
      },
    );
    assert.equal(grant.status, 201, `create Role: ${JSON.stringify(grant.body)}`);
    const binding = await kubeRequest(
      'POST',
      `/apis/rbac.authorization.k8s.io/v1/namespaces/${ownerGrantNs}/rolebindings`,
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: 'spot-rescue-restore-as' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'spot-rescue-restore-as' },
        subjects: [{ kind: 'ServiceAccount', name: `${release}-spot-rescue-worker`, namespace: ns }],
      },
    );
    assert.equal(binding.status, 201, `create RoleBinding: ${JSON.stringify(binding.body)}`);

    const node = await kubeRequest('POST', '/api/v1/nodes', {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: nodeName, labels: { 'kubernetes.io/hostname': nodeName } },
      spec: { taints: [{ key: 'example.com/dedicated', value: 'x', effect: 'NoSchedule' }] },
    });
    assert.equal(node.status, 201, `create node: ${JSON.stringify(node.body)}`);
    for (const pod of [original(appNs, 'opted', optedIn), original(appNs, 'plain')]) {
      delete pod.metadata!.uid;
      delete pod.spec!.nodeName;
      const r = await kubeRequest('POST', `/api/v1/namespaces/${appNs}/pods`, pod);
      assert.equal(r.status, 201, `create pod: ${JSON.stringify(r.body)}`);
    }

    // Policies reach the API server's admission through an informer: wait until one denies.
    const deadline = Date.now() + 30_000;
    for (;;) {
      const r = await createPodAs(worker, restoredCopyOf(original(appNs, 'probe')));
      if (r.status === 403) break;
      assert.ok(
        Date.now() < deadline,
        `the policy never took effect: last answer ${r.status} ${JSON.stringify(r.body)}`,
      );
      await new Promise((res) => setTimeout(res, 250));
    }
  });

  after(async () => {
    for (const obj of chart.filter(
      (o) => o.kind.startsWith('ValidatingAdmissionPolicy') || o.kind.startsWith('ClusterRole'),
    )) {
      const res = await resourceFor(obj.apiVersion, obj.kind);
      await kubeRequest('DELETE', `/apis/${obj.apiVersion}/${res!.name}/${obj.metadata.name}`);
    }
    await kubeRequest('DELETE', `/api/v1/nodes/${nodeName}`);
    for (const name of [ns, appNs, optedInNs, ownerGrantNs])
      await kubeRequest('DELETE', `/api/v1/namespaces/${name}`);
  });

  it('admits the restored copy of a pod opted in by annotation', async () => {
    assertAdmitted(await createPodAs(worker, restoredCopyOf(original(appNs, 'web', optedIn))));
  });

  it('admits the restored copy of a pod opted in by its namespace label', async () => {
    assertAdmitted(await createPodAs(worker, restoredCopyOf(original(optedInNs, 'web'))));
  });

  it('admits a StatefulSet pod restored under its own name', async () => {
    const pod = original(appNs, 'db-0', optedIn);
    pod.metadata!.ownerReferences = [
      { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db', uid: 'u', controller: true },
    ];
    assertAdmitted(await createPodAs(worker, restoredCopyOf(pod)));
  });

  it("admits the worker's demand placeholder for an opted-in pod", async () => {
    assertAdmitted(await createPodAs(worker, demandPlaceholder(original(appNs, 'web', optedIn), [])));
  });

  it('denies the restored copy of a pod that did not opt in', async () => {
    assertDenied(await createPodAs(worker, restoredCopyOf(original(appNs, 'web'))), 'is not opted in');
  });

  it('denies an opted-in pod that is not a restored copy', async () => {
    const pod = original(appNs, 'web', optedIn);
    delete pod.metadata!.uid;
    delete pod.spec!.nodeName;
    pod.spec!.containers[0]!.image = 'attacker.example/miner:latest';
    assertDenied(await createPodAs(worker, pod), 'only restored copies');
  });

  it('denies a placeholder that carries volumes, a token or a system priority class', async () => {
    // In a namespace that opted in, so that only the placeholder's shape decides.
    const token = demandPlaceholder(original(optedInNs, 'web'), []);
    token.spec!.automountServiceAccountToken = true;
    assertDenied(await createPodAs(worker, token), 'only restored copies');
    const volume = demandPlaceholder(original(optedInNs, 'web'), []);
    volume.spec!.volumes = [{ name: 'v', emptyDir: {} }];
    assertDenied(await createPodAs(worker, volume), 'only restored copies');
    const critical = original(optedInNs, 'web');
    critical.spec!.priorityClassName = 'system-node-critical';
    assertDenied(await createPodAs(worker, demandPlaceholder(critical, [])), 'only restored copies');
  });

  it('denies a restored copy in kube-system and in the release namespace', async () => {
    for (const namespace of ['kube-system', ns]) {
      const r = await createPodAs(worker, restoredCopyOf(original(namespace, 'web', optedIn)));
      assertDenied(r, `protected namespace ${namespace}`);
    }
  });

  it('denies a restored copy with a hostPath volume, host namespaces or a privileged container', async () => {
    const variants: Array<(p: V1Pod) => void> = [
      (p) => {
        p.spec!.volumes = [{ name: 'root', hostPath: { path: '/' } }];
        p.spec!.containers[0]!.volumeMounts = [{ name: 'root', mountPath: '/host' }];
      },
      (p) => {
        p.spec!.hostNetwork = true;
      },
      (p) => {
        p.spec!.hostPID = true;
      },
      (p) => {
        p.spec!.containers[0]!.securityContext = { privileged: true };
      },
    ];
    for (const change of variants) {
      const pod = original(appNs, 'web', optedIn);
      change(pod);
      assertDenied(await createPodAs(worker, restoredCopyOf(pod)), 'host access');
    }
  });

  it('drops only the host-access rule with admissionPolicy.allowHostAccess', () => {
    const messages = (set: string[]) =>
      (
        renderChart({ release, namespace: ns, values: [minimal], set }).find(
          (o) => o.kind === 'ValidatingAdmissionPolicy' && o.metadata.name.endsWith('-worker-pods'),
        ) as unknown as { spec: { validations: Array<{ message?: string; messageExpression?: string }> } }
      ).spec.validations.map((v) => v.message ?? v.messageExpression ?? '');
    const strict = messages([]);
    const relaxed = messages(['admissionPolicy.allowHostAccess=true']);
    assert.deepEqual(
      strict.filter((m) => !relaxed.includes(m)),
      [strict.find((m) => m.includes('host access'))],
    );
    assert.equal(relaxed.length, strict.length - 1);
  });

  it('admits a copy as any ServiceAccount of a namespace the chart grants restore-as in', async () => {
    const pod = original(appNs, 'web', optedIn);
    pod.spec!.serviceAccountName = 'any-sa';
    assertAdmitted(await createPodAs(worker, restoredCopyOf(pod)));
  });

  it("admits a copy as a ServiceAccount its namespace's owner granted restore-as on", async () => {
    const pod = original(ownerGrantNs, 'web', optedIn);
    pod.spec!.serviceAccountName = 'granted-sa';
    assertAdmitted(await createPodAs(worker, restoredCopyOf(pod)));
  });

  it('denies a copy as a ServiceAccount the worker is not granted restore-as on, even the default one', async () => {
    for (const sa of ['other-sa', undefined]) {
      const pod = original(ownerGrantNs, 'web', optedIn);
      if (sa) pod.spec!.serviceAccountName = sa;
      assertDenied(
        await createPodAs(worker, restoredCopyOf(pod)),
        `only as ServiceAccounts it is granted restore-as on: ${ownerGrantNs}/${sa ?? 'default'} is not granted`,
      );
    }
    // A copy re-created from the original's spec (its node gone) is held to the same grant.
    const bare = original(ownerGrantNs, 'bare', { ...optedIn, [RECREATED_FROM_ANNOTATION]: 'uid-bare' });
    bare.spec!.serviceAccountName = 'other-sa';
    delete bare.metadata!.uid;
    delete bare.spec!.nodeName;
    assertDenied(await createPodAs(worker, bare), 'granted restore-as on');
  });

  it('admits a demand placeholder where no ServiceAccount is granted: it carries no token', async () => {
    assertAdmitted(await createPodAs(worker, demandPlaceholder(original(ownerGrantNs, 'web', optedIn), [])));
  });

  it('drops only the restore-as rule with admissionPolicy.serviceAccounts=any', () => {
    const messages = (set: string[]) =>
      (
        renderChart({ release, namespace: ns, values: [minimal], set }).find(
          (o) => o.kind === 'ValidatingAdmissionPolicy' && o.metadata.name.endsWith('-worker-pods'),
        ) as unknown as { spec: { validations: Array<{ message?: string; messageExpression?: string }> } }
      ).spec.validations.map((v) => v.message ?? v.messageExpression ?? '');
    const granted = messages([]);
    const any = messages(['admissionPolicy.serviceAccounts=any']);
    assert.deepEqual(
      granted.filter((m) => !any.includes(m)),
      [granted.find((m) => m.includes('restore-as'))],
    );
    assert.equal(any.length, granted.length - 1);
  });

  it('leaves every other identity alone: the admin creates a pod that did not opt in', async () => {
    const pod = original(appNs, 'admin-pod');
    delete pod.metadata!.uid;
    delete pod.spec!.nodeName;
    assertAdmitted(await request(undefined, 'POST', `/api/v1/namespaces/${appNs}/pods?dryRun=All`, pod));
  });

  it('lets the worker patch the annotations and labels of an opted-in pod', async () => {
    assertAdmitted(
      await patchPodAs(worker, appNs, 'opted', {
        metadata: { annotations: { 'controller.kubernetes.io/pod-deletion-cost': '-2147483648' } },
      }),
    );
    const staged = restoredCopyOf(original(appNs, 'opted', optedIn));
    assertAdmitted(await patchPodAs(worker, appNs, 'opted', adoptionPatch(staged)));
  });

  it("denies the worker a change to an opted-in pod's spec", async () => {
    assertDenied(
      await patchPodAs(worker, appNs, 'opted', { spec: { activeDeadlineSeconds: 5 } }),
      "only a pod's labels, annotations",
    );
  });

  it('denies the worker any change to a pod that did not opt in', async () => {
    assertDenied(
      await patchPodAs(worker, appNs, 'plain', {
        metadata: { annotations: { [MIGRATE_ANNOTATION]: 'true' } },
      }),
      'only opted-in pods',
    );
  });

  it('lets the listener add its taint and cordon the node, as its own code computes them', async () => {
    const r = await kubeRequest('GET', `/api/v1/nodes/${nodeName}`);
    const node = r.body as V1Node;
    const patch = taintPatch(node, 'spot-interruption');
    assert.ok(patch);
    assert.ok(patch.some((op) => op.op === 'add' && JSON.stringify(op.value).includes(TAINT_KEY)));
    assertAdmitted(await patchNodeAs(listener, patch, 'application/json-patch+json'));
  });

  it("denies the listener a change to a node's labels or to another taint", async () => {
    assertDenied(
      await patchNodeAs(listener, { metadata: { labels: { 'node-role.kubernetes.io/control-plane': '' } } }),
      'not its metadata',
    );
    assertDenied(
      await patchNodeAs(listener, {
        spec: { taints: [{ key: TAINT_KEY, value: 'x', effect: 'NoSchedule' }] },
      }),
      'spot-rescue.io/interrupted taint and spec.unschedulable$',
    );
  });
});
