/**
 * The chart's NetworkPolicies as helm renders them: each selects exactly the
 * pods of its component (matched against the pod templates the chart
 * renders, not against copied labels), and admits only the peers and ports
 * the components need.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { exampleFiles, find, type K8sObject, renderChart } from './helm.js';

const NS = 'spot-rescue';
const minimal = exampleFiles.find((f) => f.endsWith('minimal.yaml'))!;

interface Selector {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: string; values?: string[] }>;
}
interface Peer {
  podSelector?: Selector;
  namespaceSelector?: Selector;
}
interface Policy {
  metadata: { name: string; namespace: string };
  spec: {
    podSelector: Selector;
    policyTypes: string[];
    ingress: Array<{ from: Peer[]; ports: Array<{ protocol: string; port: number }> }>;
  };
}

/** Kubernetes label-selector semantics (In, NotIn, Exists, DoesNotExist); an empty selector selects all. */
function selects(sel: Selector, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const has = e.key in labels;
    const ok =
      e.operator === 'In'
        ? has && (e.values ?? []).includes(labels[e.key]!)
        : e.operator === 'NotIn'
          ? !has || !(e.values ?? []).includes(labels[e.key]!)
          : e.operator === 'Exists'
            ? has
            : !has;
    if (!ok) return false;
  }
  return true;
}

function podLabels(objects: K8sObject[], kind: string, suffix: string): Record<string, string> {
  const w = find(objects, kind, suffix) as unknown as {
    spec: { template: { metadata: { labels: Record<string, string> } } };
  };
  return w.spec.template.metadata.labels;
}

/** renderChart goes through client-node's models, which rename `from` (reserved in their generator) to `_from`. */
function asPolicy(o: K8sObject): Policy {
  const p = structuredClone(o) as unknown as Policy;
  p.spec.ingress = p.spec.ingress.map(
    ({ _from, ...rule }: Policy['spec']['ingress'][number] & { _from?: Peer[] }) => ({
      ...rule,
      from: rule.from ?? _from ?? [],
    }),
  );
  return p;
}

function policy(objects: K8sObject[], suffix: string): Policy {
  return asPolicy(find(objects, 'NetworkPolicy', suffix));
}

function policies(objects: K8sObject[]): Policy[] {
  return objects.filter((o) => o.kind === 'NetworkPolicy').map(asPolicy);
}

describe('chart: NetworkPolicies', () => {
  const objects = renderChart({ namespace: NS, values: [minimal] });
  const pods = {
    listener: podLabels(objects, 'Deployment', '-listener'),
    worker: podLabels(objects, 'Deployment', '-worker'),
    agent: podLabels(objects, 'DaemonSet', '-agent'),
  };
  const others = (except: keyof typeof pods) =>
    Object.entries(pods)
      .filter(([k]) => k !== except)
      .map(([, v]) => v);

  it('renders one policy per component by default, none for Redis outside the cluster', () => {
    assert.deepEqual(
      policies(objects)
        .map((p) => p.metadata.name)
        .sort(),
      ['rescue-spot-rescue-agent', 'rescue-spot-rescue-listener', 'rescue-spot-rescue-worker'],
    );
  });

  it('opens the agent API to the worker alone, on the agent port alone', () => {
    const p = policy(objects, '-agent');
    assert.ok(selects(p.spec.podSelector, pods.agent), 'selects the agent pods');
    for (const o of others('agent')) assert.ok(!selects(p.spec.podSelector, o), 'selects no other pods');
    assert.deepEqual(p.spec.policyTypes, ['Ingress']);
    assert.equal(p.spec.ingress.length, 1);
    const rule = p.spec.ingress[0]!;
    assert.deepEqual(rule.ports, [{ protocol: 'TCP', port: 8443 }]);
    assert.equal(rule.from.length, 1);
    const peer = rule.from[0]!;
    assert.equal(peer.namespaceSelector, undefined, 'the release namespace only');
    assert.ok(selects(peer.podSelector!, pods.worker), 'the worker may call');
    assert.ok(!selects(peer.podSelector!, pods.listener), 'the listener may not');
    assert.ok(!selects(peer.podSelector!, pods.agent), 'another agent may not');
  });

  it('follows agent.port', () => {
    const p = policy(renderChart({ namespace: NS, values: [minimal], set: ['agent.port=9443'] }), '-agent');
    assert.deepEqual(p.spec.ingress[0]!.ports, [{ protocol: 'TCP', port: 9443 }]);
  });

  for (const component of ['listener', 'worker'] as const) {
    it(`opens the ${component} to metrics scrapes from the configured Prometheus only`, () => {
      const p = policy(objects, `-${component}`);
      assert.ok(selects(p.spec.podSelector, pods[component]));
      for (const o of others(component)) assert.ok(!selects(p.spec.podSelector, o));
      assert.deepEqual(p.spec.ingress, [
        {
          from: [
            {
              namespaceSelector: {},
              podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } },
            },
          ],
          ports: [{ protocol: 'TCP', port: 9090 }],
        },
      ]);
      const custom = policy(
        renderChart({
          namespace: NS,
          values: [minimal],
          set: [
            'networkPolicy.metrics.namespaceSelector.matchLabels.kubernetes\\.io/metadata\\.name=monitoring',
            'metrics.port=9100',
          ],
        }),
        `-${component}`,
      );
      assert.deepEqual(custom.spec.ingress[0]!.from[0]!.namespaceSelector, {
        matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' },
      });
      assert.deepEqual(custom.spec.ingress[0]!.ports, [{ protocol: 'TCP', port: 9100 }]);
    });
  }

  it('closes an in-cluster Redis to everyone but the listener and the worker of this release', () => {
    const rendered = renderChart({
      namespace: NS,
      values: [minimal],
      set: ['networkPolicy.redis.namespace=data', 'networkPolicy.redis.podSelector.matchLabels.app=redis'],
    });
    const p = policy(rendered, '-redis');
    assert.equal(p.metadata.namespace, 'data');
    assert.deepEqual(p.spec.podSelector, { matchLabels: { app: 'redis' } });
    assert.deepEqual(p.spec.ingress[0]!.ports, [{ protocol: 'TCP', port: 6379 }]);
    const [peer] = p.spec.ingress[0]!.from;
    assert.equal(p.spec.ingress[0]!.from.length, 1);
    assert.ok(selects(peer!.namespaceSelector!, { 'kubernetes.io/metadata.name': NS }));
    assert.ok(!selects(peer!.namespaceSelector!, { 'kubernetes.io/metadata.name': 'default' }));
    assert.ok(selects(peer!.podSelector!, pods.listener));
    assert.ok(selects(peer!.podSelector!, pods.worker));
    assert.ok(!selects(peer!.podSelector!, pods.agent), 'the agents never talk to Redis');
    const otherRelease = { ...pods.worker, 'app.kubernetes.io/instance': 'other' };
    assert.ok(!selects(peer!.podSelector!, otherRelease));
  });

  it('refuses an in-cluster Redis namespace without a pod selector', () => {
    assert.throws(
      () => renderChart({ namespace: NS, values: [minimal], set: ['networkPolicy.redis.namespace=data'] }),
      /networkPolicy.redis.podSelector is required/,
    );
  });

  it('renders none when disabled', () => {
    const rendered = renderChart({ namespace: NS, values: [minimal], set: ['networkPolicy.enabled=false'] });
    assert.deepEqual(policies(rendered), []);
  });
});
