/**
 * The chart rendered by a real helm: lint, every example values file, the
 * schema rejecting bad values with a message naming the value, RBAC exactly
 * as least-privilege as the components need, and every environment variable
 * the chart sets accepted by the settings spec of the component it configures.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, it } from 'node:test';
import { agentSettings } from '../../../services/agent/settings.js';
import { readConfig, type SettingsSpec } from '../../../services/common/config.js';
import { listenerSettings } from '../../../services/listener/settings.js';
import { allWorkerSettings } from '../../../services/worker/service.js';
import {
  chartDir,
  exampleFiles,
  find,
  helm,
  type K8sObject,
  KUBE_VERSION,
  renderChart,
  repoRoot,
} from './helm.js';

const NS = 'spot-rescue';
const minimal = exampleFiles.find((f) => f.endsWith('minimal.yaml'))!;

type Rule = { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] };

/**
 * What each component's code calls, read from its source: client-node calls
 * (`core.readNamespacedPod(` -> pods get), informers (list + watch) and the
 * kubelet checkpoint API (nodes/checkpoint create). The chart must grant
 * exactly these, so a new call without its rule (or a rule nothing uses)
 * fails here instead of in a cluster.
 */
const KINDS: Record<string, string> = {
  Pod: 'core pods',
  PodEviction: 'core pods/eviction',
  Node: 'core nodes',
  Namespace: 'core namespaces',
  Event: 'core events',
  PersistentVolumeClaim: 'core persistentvolumeclaims',
  PersistentVolume: 'core persistentvolumes',
  TokenReview: 'authentication.k8s.io tokenreviews',
  ServiceAccountToken: 'core serviceaccounts/token',
  SelfSubjectAccessReview: 'authorization.k8s.io selfsubjectaccessreviews',
};
const VERBS: Record<string, string> = {
  list: 'list',
  read: 'get',
  create: 'create',
  patch: 'patch',
  delete: 'delete',
  replace: 'update',
};
function permissionsUsedBy(component: string): string[] {
  const dir = join(repoRoot, 'services', component);
  const used = new Set<string>();
  for (const f of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    const rel = `services/${component}/${f}`;
    if (!f.endsWith('.ts') || f.endsWith('.test.ts')) continue;
    const src = readFileSync(join(dir, f), 'utf8');
    for (const m of src.matchAll(
      /\b(?:core|api)\.(list|read|create|patch|delete|replace)(?:Namespaced)?(\w+?)(?:ForAllNamespaces)?\(/g,
    )) {
      const kind = KINDS[m[2]!];
      assert.ok(kind, `${rel}: ${m[0]} calls a kind this test does not map yet: add it to KINDS`);
      used.add(`${kind} ${VERBS[m[1]!]}`);
    }
    for (const m of src.matchAll(/makeInformer\(\s*\w+,\s*'\/api\/v1\/(\w+)'/g)) {
      used.add(`core ${m[1]} list`);
      used.add(`core ${m[1]} watch`);
    }
    if (/`\/checkpoint\//.test(src)) used.add('core nodes/checkpoint create');
    if (/\beventsV1\.createNamespacedEvent\(/.test(src)) used.add('events.k8s.io events create');
  }
  return [...used].sort();
}

function permissions(rules: Rule[]): string[] {
  const out: string[] = [];
  for (const r of rules) {
    for (const g of r.apiGroups) {
      for (const res of r.resources)
        for (const v of r.verbs) out.push(`${g === '' ? 'core' : g} ${res} ${v}`);
    }
  }
  return out.sort();
}

function container(o: K8sObject): { env: EnvVar[]; args: string[]; [k: string]: unknown } {
  const spec = o['spec'] as { template: { spec: { containers: { env: EnvVar[]; args: string[] }[] } } };
  return spec.template.spec.containers[0]!;
}
function podSpec(o: K8sObject): Record<string, unknown> {
  return (o['spec'] as { template: { spec: Record<string, unknown> } }).template.spec;
}

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string }; secretKeyRef?: { name: string; key: string } };
}

/** What the kubelet would hand the process: fieldRefs and secrets resolved to plausible values, $(VAR) expanded. */
function resolveEnv(env: EnvVar[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of env) {
    let v: string;
    if (e.value !== undefined) v = e.value;
    else if (e.valueFrom?.fieldRef?.fieldPath === 'spec.nodeName')
      v = 'ip-10-0-1-23.eu-west-1.compute.internal';
    else if (e.valueFrom?.fieldRef?.fieldPath === 'status.hostIP') v = '10.0.1.23';
    else if (e.valueFrom?.secretKeyRef) v = 'rediss://:secret@master.example.cache.amazonaws.com:6379';
    else throw new Error(`env ${e.name}: unexpected source ${JSON.stringify(e.valueFrom)}`);
    out[e.name] = v.replace(/\$\((\w+)\)/g, (_, name: string) => out[name] ?? `$(${name})`);
  }
  return out;
}

/** Variables the chart sets only to build others from ($(VAR) expansion). */
const HELPER_VARS = new Set(['SPOT_RESCUE_NODE_IP']);

const SPECS: Record<string, SettingsSpec> = {
  listener: listenerSettings,
  worker: allWorkerSettings,
  agent: agentSettings,
};

describe('chart: lint and render', () => {
  it('passes helm lint --strict with the defaults and with every example', () => {
    assert.ok(exampleFiles.length >= 3, 'examples/ holds the example values files');
    for (const values of [[], ...exampleFiles.map((f) => [f])]) {
      const r = helm([
        'lint',
        '--strict',
        chartDir,
        '--kube-version',
        KUBE_VERSION,
        ...values.flatMap((f) => ['-f', f]),
      ]);
      assert.equal(r.status, 0, `helm lint ${values.join(' ')}: ${r.stdout}${r.stderr}`);
    }
  });

  for (const file of exampleFiles) {
    it(`renders examples/${basename(file)} into a complete add-on`, () => {
      const objects = renderChart({ namespace: NS, values: [file] });
      const kinds = objects.map((o) => o.kind);
      for (const k of [
        'Deployment',
        'DaemonSet',
        'Service',
        'ServiceAccount',
        'ClusterRole',
        'ClusterRoleBinding',
      ]) {
        assert.ok(kinds.includes(k), `${k} rendered`);
      }
      for (const o of objects) {
        if (o.kind.startsWith('Cluster') || o.kind.startsWith('ValidatingAdmissionPolicy'))
          assert.equal(o.metadata.namespace, undefined);
        else
          assert.equal(o.metadata.namespace, NS, `${o.kind} ${o.metadata.name} is in the release namespace`);
      }
    });
  }

  it('runs each component with its own command and an env its settings spec accepts', () => {
    for (const file of exampleFiles) {
      const objects = renderChart({ namespace: NS, values: [file] });
      const workloads = {
        listener: find(objects, 'Deployment', '-listener'),
        worker: find(objects, 'Deployment', '-worker'),
        agent: find(objects, 'DaemonSet', '-agent'),
      };
      for (const [component, workload] of Object.entries(workloads)) {
        const c = container(workload);
        assert.deepEqual(c.args, [component]);
        const spec = SPECS[component]!;
        const known = new Set(Object.values(spec).map((s) => s.env));
        const names = c.env.map((e) => e.name);
        assert.equal(new Set(names).size, names.length, `${component}: no variable set twice`);
        for (const n of names) {
          assert.ok(
            known.has(n) || HELPER_VARS.has(n),
            `${basename(file)}: ${component} has no setting ${n}`,
          );
        }
        // Throws, naming every variable, if a value is out of range or a required one is missing.
        const env = resolveEnv(c.env);
        assert.doesNotThrow(() => readConfig(spec, env), `${basename(file)}: ${component} config`);
      }
    }
  });

  it('makes the agent privileged on every node with the kubelet checkpoint directory, and the worker the only caller', () => {
    const objects = renderChart({ namespace: NS, values: [minimal] });
    const ds = find(objects, 'DaemonSet', '-agent');
    const pod = podSpec(ds) as {
      priorityClassName: string;
      tolerations: { operator: string; key?: string }[];
      volumes: { name: string; hostPath?: { path: string } }[];
    };
    assert.equal(pod.priorityClassName, 'system-node-critical');
    assert.ok(
      pod.tolerations.some((t) => t.operator === 'Exists' && t.key === undefined),
      'tolerates every taint',
    );
    assert.ok(pod.volumes.some((v) => v.hostPath?.path === '/var/lib/kubelet/checkpoints'));
    const c = container(ds) as unknown as { securityContext: { privileged: boolean } };
    assert.equal(c.securityContext.privileged, true);
    const env = resolveEnv(container(ds).env);
    const workerSa = find(objects, 'ServiceAccount', '-worker').metadata.name;
    assert.equal(env['SPOT_RESCUE_AGENT_ALLOWED_SA'], `system:serviceaccount:${NS}:${workerSa}`);
    assert.equal(env['SPOT_RESCUE_KUBELET_URL'], 'https://10.0.1.23:10250');

    // The worker mints its agent tokens per node for the very identity the agents accept; none is mounted.
    const worker = podSpec(find(objects, 'Deployment', '-worker')) as {
      serviceAccountName: string;
      volumes: { projected?: { sources: { serviceAccountToken?: unknown }[] } }[];
    };
    assert.equal(worker.serviceAccountName, workerSa);
    assert.ok(
      !worker.volumes.some((v) => v.projected?.sources.some((s) => s.serviceAccountToken)),
      'no projected token: one audience for every agent would let any node replay it to all',
    );
    const workerEnv = resolveEnv(container(find(objects, 'Deployment', '-worker')).env);
    assert.equal(workerEnv['SPOT_RESCUE_WORKER_SERVICE_ACCOUNT'], env['SPOT_RESCUE_AGENT_ALLOWED_SA']);
    assert.equal(workerEnv['SPOT_RESCUE_AGENT_TOKEN_FILE'], undefined);
    // The worker finds agents by the labels the DaemonSet's pods carry.
    const agentLabels = (ds['spec'] as { template: { metadata: { labels: Record<string, string> } } })
      .template.metadata.labels;
    for (const pair of workerEnv['SPOT_RESCUE_AGENT_SELECTOR']!.split(',')) {
      const [k, v] = pair.split('=');
      assert.equal(agentLabels[k!], v, `agent pods carry ${pair}`);
    }
  });

  it('keeps two listeners up across disruptions and spreads them, and runs listener and worker unprivileged', () => {
    const objects = renderChart({ namespace: NS, values: [minimal] });
    const listener = find(objects, 'Deployment', '-listener');
    assert.equal((listener['spec'] as { replicas: number }).replicas, 2);
    const pdb = find(objects, 'PodDisruptionBudget', '-listener')['spec'] as {
      minAvailable: number;
      selector: { matchLabels: Record<string, string> };
    };
    assert.equal(pdb.minAvailable, 1);
    const pod = podSpec(listener) as {
      topologySpreadConstraints: {
        topologyKey: string;
        labelSelector: { matchLabels: Record<string, string> };
      }[];
    };
    assert.deepEqual(
      pod.topologySpreadConstraints.map((t) => t.topologyKey),
      ['topology.kubernetes.io/zone', 'kubernetes.io/hostname'],
    );
    for (const t of pod.topologySpreadConstraints)
      assert.deepEqual(t.labelSelector.matchLabels, pdb.selector.matchLabels);
    for (const name of ['-listener', '-worker']) {
      const p = podSpec(find(objects, 'Deployment', name)) as {
        securityContext: { runAsNonRoot: boolean; runAsUser: number };
      };
      assert.equal(p.securityContext.runAsNonRoot, true);
      assert.notEqual(p.securityContext.runAsUser, 0);
      const c = container(find(objects, 'Deployment', name)) as unknown as {
        securityContext: { allowPrivilegeEscalation: boolean; readOnlyRootFilesystem: boolean };
      };
      assert.equal(c.securityContext.allowPrivilegeEscalation, false);
      assert.equal(c.securityContext.readOnlyRootFilesystem, true);
    }
  });

  it('hands the worker the archive-access role and the one key its sessions may use', () => {
    const workerEnv = (values: string[], set: string[] = []) =>
      resolveEnv(container(find(renderChart({ namespace: NS, values, set }), 'Deployment', '-worker')).env);
    const env = workerEnv([minimal]);
    assert.equal(
      env['SPOT_RESCUE_ARCHIVE_ROLE_ARN'],
      'arn:aws:iam::111122223333:role/prod-eu-1-spot-rescue-archive-access',
    );
    assert.equal(
      env['SPOT_RESCUE_ARCHIVE_KMS_KEY_ARN'],
      'arn:aws:kms:eu-west-1:111122223333:key/0f3c2a9e-8a47-4a55-9b8e-1c2d3e4f5a6b',
    );
    const unscoped = workerEnv([minimal], ['s3.archiveRoleArn=']);
    assert.equal(unscoped['SPOT_RESCUE_ARCHIVE_ROLE_ARN'], undefined);
    assert.equal(unscoped['SPOT_RESCUE_ARCHIVE_KMS_KEY_ARN'], undefined);
    // A session policy names a key by its ARN: an alias would leave SSE-KMS uploads denied.
    assert.throws(
      () => renderChart({ namespace: NS, values: [minimal], set: ['s3.kmsKeyId=alias/archives'] }),
      /s3\.kmsKeyId must be the key's ARN with s3\.archiveRoleArn/,
    );
  });

  it('leaves the worker replica count to the HPA when autoscaling is on', () => {
    const file = exampleFiles.find((f) => f.endsWith('irsa-autoscaled.yaml'))!;
    const objects = renderChart({ namespace: NS, values: [file] });
    const worker = find(objects, 'Deployment', '-worker');
    assert.equal((worker['spec'] as { replicas?: number }).replicas, undefined);
    const hpa = find(objects, 'HorizontalPodAutoscaler', '-worker')['spec'] as {
      scaleTargetRef: { name: string };
      maxReplicas: number;
    };
    assert.equal(hpa.scaleTargetRef.name, worker.metadata.name);
    assert.equal(hpa.maxReplicas, 20);
    assert.equal(
      find(objects, 'ServiceAccount', '-worker').metadata.annotations?.['eks.amazonaws.com/role-arn'],
      'arn:aws:iam::111122223333:role/prod-us-2-spot-rescue-worker',
    );
    assert.equal(objects.filter((o) => o.kind === 'ServiceMonitor').length, 3);
    const noHpa = renderChart({ namespace: NS, values: [minimal] });
    assert.ok(!noHpa.some((o) => o.kind === 'HorizontalPodAutoscaler' || o.kind === 'ServiceMonitor'));
    // Pod Identity (the default) needs no annotation on the ServiceAccounts.
    assert.ok(noHpa.filter((o) => o.kind === 'ServiceAccount').every((o) => !o.metadata.annotations));
  });

  it('defaults to opt-in by annotation, rebalance policy cordon and Karpenter provisioning', () => {
    const objects = renderChart({ namespace: NS, values: [minimal] });
    const listenerEnv = resolveEnv(container(find(objects, 'Deployment', '-listener')).env);
    const workerEnv = resolveEnv(container(find(objects, 'Deployment', '-worker')).env);
    assert.equal(listenerEnv['SPOT_RESCUE_REBALANCE_POLICY'], 'cordon');
    assert.equal(listenerEnv['SPOT_RESCUE_UNOPTED_PODS'], 'evict');
    assert.equal(workerEnv['SPOT_RESCUE_PROVISION_MODE'], 'karpenter');
    assert.equal(workerEnv['SPOT_RESCUE_EMF_OUTPUT'], 'off');
  });
});

describe('chart: RBAC is least privilege', () => {
  const objects = renderChart({ namespace: NS, values: [exampleFiles[0]!] });
  const roles = objects.filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role');

  it('grants each component exactly the verbs its code uses', () => {
    for (const component of ['listener', 'worker', 'agent']) {
      const role = find(objects, 'ClusterRole', `-${component}`);
      const own = roles.filter(
        (r) => r.kind === 'Role' && r.metadata.labels?.['app.kubernetes.io/component'] === component,
      );
      assert.deepEqual(
        permissions([role, ...own].flatMap((r) => r['rules'] as Rule[])).sort(),
        permissionsUsedBy(component),
        `${component} permissions`,
      );
    }
    assert.deepEqual(
      roles.map((r) => r.metadata.name.replace(/^rescue-spot-rescue-/, '')).sort(),
      ['agent', 'listener', 'restore-as', 'worker', 'worker-agent-tokens'],
      'no other roles',
    );
  });

  it('grants restore-as on ServiceAccounts only where the values say, to the worker alone', () => {
    type Binding = K8sObject & {
      roleRef: { kind: string; name: string };
      subjects: { kind: string; name: string; namespace: string }[];
    };
    const workerSa = find(objects, 'ServiceAccount', '-worker').metadata.name;
    const role = find(objects, 'ClusterRole', '-restore-as');
    assert.deepEqual(role['rules'], [
      { apiGroups: [''], resources: ['serviceaccounts'], verbs: ['restore-as'] },
    ]);
    const grants = (set: string[]) =>
      renderChart({ namespace: NS, values: [exampleFiles[0]!], set }).filter(
        (o): o is Binding =>
          (o.kind === 'RoleBinding' || o.kind === 'ClusterRoleBinding') &&
          (o as Binding).roleRef.name === role.metadata.name,
      );
    assert.deepEqual(grants([]), [], 'by default nothing is granted');
    const perNamespace = grants(['restoreServiceAccounts.namespaces={shop,web}']);
    assert.deepEqual(
      perNamespace.map((b) => [b.kind, b.metadata.namespace]),
      [
        ['RoleBinding', 'shop'],
        ['RoleBinding', 'web'],
      ],
    );
    const everywhere = grants(['restoreServiceAccounts.allNamespaces=true']);
    assert.deepEqual(
      everywhere.map((b) => b.kind),
      ['ClusterRoleBinding'],
    );
    for (const b of [...perNamespace, ...everywhere]) {
      assert.equal(b.roleRef.kind, 'ClusterRole');
      assert.deepEqual(b.subjects, [{ kind: 'ServiceAccount', name: workerSa, namespace: NS }]);
    }
    const workerEnv = (set: string[]) =>
      resolveEnv(
        container(
          find(renderChart({ namespace: NS, values: [exampleFiles[0]!], set }), 'Deployment', '-worker'),
        ).env,
      )['SPOT_RESCUE_RESTORE_SERVICE_ACCOUNTS'];
    assert.equal(workerEnv([]), 'granted', 'the worker asks before it checkpoints');
    for (const set of [['admissionPolicy.serviceAccounts=any'], ['admissionPolicy.enabled=false']]) {
      const objs = renderChart({ namespace: NS, values: [exampleFiles[0]!], set });
      assert.ok(!objs.some((o) => o.metadata.name.endsWith('-restore-as')), `${set}: no restore-as role`);
      assert.equal(workerEnv(set), 'any', `${set}: the worker does not ask`);
    }
  });

  it('lets the worker mint tokens of its own ServiceAccount only, in its own namespace', () => {
    const role = find(objects, 'Role', '-worker-agent-tokens');
    const workerSa = find(objects, 'ServiceAccount', '-worker').metadata.name;
    assert.equal(role.metadata.namespace, NS);
    assert.deepEqual(role['rules'], [
      { apiGroups: [''], resources: ['serviceaccounts/token'], verbs: ['create'], resourceNames: [workerSa] },
    ]);
    const binding = find(objects, 'RoleBinding', '-worker-agent-tokens') as K8sObject & {
      roleRef: { kind: string; name: string };
      subjects: { kind: string; name: string; namespace: string }[];
    };
    assert.deepEqual(binding.roleRef, {
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'Role',
      name: role.metadata.name,
    });
    assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: workerSa, namespace: NS }]);
    for (const r of roles.filter((x) => x.kind === 'ClusterRole'))
      assert.ok(
        !(r['rules'] as Rule[]).some((rule) => rule.resources.includes('serviceaccounts/token')),
        `${r.metadata.name}: no cluster-wide token minting`,
      );
  });

  it("gives the agent the kubelet's checkpoint endpoint and token reviews, not nodes/proxy", () => {
    const agent = permissions(find(objects, 'ClusterRole', '-agent')['rules'] as Rule[]);
    assert.ok(agent.includes('core nodes/checkpoint create'));
    assert.ok(agent.includes('authentication.k8s.io tokenreviews create'));
  });

  it('has no wildcards, no nodes/proxy, no escalation verbs, and nothing aggregated', () => {
    for (const role of roles) {
      assert.equal(role['aggregationRule'], undefined);
      for (const rule of role['rules'] as Rule[]) {
        for (const field of [rule.apiGroups, rule.resources, rule.verbs]) {
          assert.ok(!field.some((x) => x.includes('*')), `${role.metadata.name}: no wildcard in ${field}`);
        }
        assert.ok(!rule.resources.includes('nodes/proxy'), `${role.metadata.name}: no nodes/proxy`);
        for (const v of ['escalate', 'bind', 'impersonate']) assert.ok(!rule.verbs.includes(v));
        assert.ok(!rule.resources.includes('secrets'), `${role.metadata.name}: no secrets`);
      }
    }
  });

  it('binds each ServiceAccount to its own role only, never cluster-admin', () => {
    const bindings = objects.filter((o) => o.kind === 'ClusterRoleBinding' || o.kind === 'RoleBinding');
    assert.equal(bindings.length, 4);
    for (const component of ['listener', 'worker', 'agent']) {
      const b = find(objects, 'ClusterRoleBinding', `-${component}`) as K8sObject & {
        roleRef: { name: string; kind: string };
        subjects: { kind: string; name: string; namespace: string }[];
      };
      assert.equal(b.roleRef.kind, 'ClusterRole');
      assert.equal(b.roleRef.name, find(objects, 'ClusterRole', `-${component}`).metadata.name);
      assert.deepEqual(b.subjects, [
        {
          kind: 'ServiceAccount',
          name: find(objects, 'ServiceAccount', `-${component}`).metadata.name,
          namespace: NS,
        },
      ]);
    }
    assert.ok(!bindings.some((b) => JSON.stringify(b).includes('cluster-admin')));
  });
});

describe('chart: values.schema.json rejects bad values with a message naming them', () => {
  const cases: [string, RegExp][] = [
    ['rebalance.policy=drain', /\/rebalance\/policy.*'ignore', 'cordon', 'migrate'/],
    ['provisioning.mode=spotinst', /\/provisioning\/mode.*'karpenter', 'ec2', 'asg', 'none'/],
    ['listener.replicas=1', /\/listener\/replicas.*minimum: got 1, want 2/],
    ['listener.replica=3', /\/listener.*additional properties 'replica' not allowed/],
    ['agent.tolerations=none', /\/agent\/tolerations.*want array/],
    ['clusterName=-bad', /\/clusterName.*does not match pattern/],
    ['aws.region=Europe', /\/aws\/region.*does not match pattern/],
    ['s3.bucket=Bad_Bucket', /\/s3\/bucket.*does not match pattern/],
    ['queueUrl=sqs-queue', /\/queueUrl.*does not match pattern/],
    ['redis.url=http://redis:6379', /\/redis\/url.*does not match pattern/],
    [
      'worker.serviceAccount.irsaRoleArn=my-role',
      /\/worker\/serviceAccount\/irsaRoleArn.*does not match pattern/,
    ],
    ['agent.partSizeMiB=1', /\/agent\/partSizeMiB.*minimum: got 1, want 5/],
    ['agent.workDirMedium=Disk', /\/agent\/workDirMedium/],
    ['metrics.cloudwatchEmf.namespace=AWS/EC2', /\/metrics\/cloudwatchEmf\/namespace/],
    ['image.digest=latest', /\/image\/digest.*does not match pattern/],
  ];
  for (const [set, message] of cases) {
    it(`rejects ${set}`, () => {
      assert.throws(() => renderChart({ namespace: NS, values: [minimal], set: [set] }), message);
    });
  }

  it('rejects combinations the schema cannot express, saying what to change', () => {
    assert.throws(
      () =>
        renderChart({
          namespace: NS,
          values: [minimal],
          set: ['listener.podDisruptionBudget.minAvailable=2'],
        }),
      /minAvailable \(2\) must be below listener.replicas \(2\)/,
    );
    assert.throws(
      () =>
        renderChart({
          namespace: NS,
          values: [minimal],
          set: [
            'worker.autoscaling.enabled=true',
            'worker.autoscaling.minReplicas=5',
            'worker.autoscaling.maxReplicas=3',
          ],
        }),
      /minReplicas \(5\) must not exceed worker.autoscaling.maxReplicas \(3\)/,
    );
    assert.throws(
      () => renderChart({ namespace: NS, values: [minimal], set: ['provisioning.mode=asg'] }),
      /provisioning.asg.name is required/,
    );
    assert.throws(
      () => renderChart({ namespace: NS, set: ['aws.region=eu-west-1'] }),
      /clusterName is required/,
    );
  });
});
