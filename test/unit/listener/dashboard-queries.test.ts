import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { Registry } from 'prom-client';
import { AgentMetrics } from '../../../services/agent/metrics.js';
import { createLogger } from '../../../services/common/logger.js';
import { createMetricsRegistry } from '../../../services/common/metrics.js';
import { createListenerMetrics, registerDlqDepth } from '../../../services/listener/metrics.js';
import { createReplanMetrics } from '../../../services/listener/replan-tainted-nodes.js';
import { WorkerMetrics } from '../../../services/worker/metrics.js';
import { registerQueueDepth } from '../../../services/worker/metrics-queue-depth.js';

const chart = new URL('../../../charts/spot-rescue/', import.meta.url);
const log = createLogger('test', 'silent');

/** Metrics that come from elsewhere, and where. Anything else a query names must be ours. */
const EXTERNAL: Record<string, string> = {
  kube_daemonset_status_number_unavailable: 'kube-state-metrics',
};

/**
 * Every series the three components export, with its label names, read from
 * registries built by the services' own metric code (not from a list kept
 * beside it): a renamed metric or label breaks this test.
 */
async function exported(): Promise<Map<string, Set<string>>> {
  const listener = createMetricsRegistry('listener');
  createListenerMetrics(listener);
  createReplanMetrics(listener);
  registerDlqDepth(listener, async () => 0, log);
  const worker = createMetricsRegistry('worker');
  new WorkerMetrics(worker);
  registerQueueDepth(worker, [], log);
  const agent = createMetricsRegistry('agent');
  new AgentMetrics(agent);

  const out = new Map<string, Set<string>>();
  const add = (name: string, labels: Iterable<string>) =>
    out.set(name, new Set([...(out.get(name) ?? []), ...labels]));
  for (const registry of [listener, worker, agent] as Registry[]) {
    for (const m of registry.getMetricsAsArray()) {
      const { labelNames = [], get } = m as unknown as {
        labelNames?: string[];
        get(): Promise<{ type: string }>;
      };
      const { type } = await get.call(m);
      const labels = labelNames;
      if (type === 'histogram') {
        add(`${m.name}_bucket`, [...labels, 'le']);
        add(`${m.name}_sum`, labels);
        add(`${m.name}_count`, labels);
      } else {
        add(m.name, labels);
      }
    }
  }
  return out;
}

function dashboardExprs(): string[] {
  const d = JSON.parse(readFileSync(new URL('dashboards/spot-rescue.json', chart), 'utf8')) as {
    panels: { targets: { expr: string }[] }[];
  };
  return d.panels.flatMap((p) => p.targets.map((t) => t.expr));
}

function ruleExprs(): string[] {
  const text = readFileSync(new URL('templates/prometheusrule.yaml', chart), 'utf8');
  return [...text.matchAll(/^\s+expr: (.+)$/gm)].map((m) => m[1]!);
}

const PROMQL_WORDS = new Set(['sum', 'max', 'min', 'count', 'by', 'rate', 'increase', 'histogram_quantile']);

/** Metric names and the labels each selector matches on. */
function selectors(expr: string): { name: string; labels: string[] }[] {
  const out: { name: string; labels: string[] }[] = [];
  for (const m of expr.matchAll(/\b([a-z_:][a-z0-9_:]*)\s*(\{[^}]*\})?/g)) {
    const name = m[1]!;
    if (PROMQL_WORDS.has(name) || !/_/.test(name) || expr[m.index! + m[0].length] === '(') continue;
    if (!/^(spot_rescue_|kube_|process_|nodejs_)/.test(name)) continue;
    const labels = [...(m[2] ?? '').matchAll(/([a-z_]+)\s*=~?/g)].map((l) => l[1]!);
    out.push({ name, labels });
  }
  return out;
}

describe('the dashboard and the alerts query metrics the code exports', () => {
  const sources: [string, string[]][] = [
    ['dashboard', dashboardExprs()],
    ['PrometheusRule', ruleExprs()],
  ];

  for (const [what, exprs] of sources) {
    it(`${what}: every metric and label it queries exists`, async () => {
      const have = await exported();
      assert.ok(exprs.length >= 6, `${what} has its queries`);
      for (const expr of exprs) {
        const found = selectors(expr);
        assert.ok(found.length > 0, `no metric found in ${expr}`);
        for (const { name, labels } of found) {
          if (name in EXTERNAL) continue;
          const known = have.get(name);
          assert.ok(known, `${what} queries ${name}, which the code does not export (in: ${expr})`);
          for (const l of labels) assert.ok(known.has(l), `${name} has no label ${l} (in: ${expr})`);
        }
      }
    });
  }

  it('the alerts cover what the chart promises', () => {
    const text = readFileSync(new URL('templates/prometheusrule.yaml', chart), 'utf8');
    const alerts = [...text.matchAll(/- alert: (\w+)/g)].map((m) => m[1]);
    assert.deepEqual(alerts, [
      'SpotRescueRescuesFailing',
      'SpotRescuePodsEvictedInsteadOfMigrated',
      'SpotRescueUploadMarginShrinking',
      'SpotRescueDeadLetterQueueNotEmpty',
      'SpotRescueCordonedWithoutRedis',
      'SpotRescueAgentsNotReady',
      'SpotRescueQueueBacklog',
    ]);
  });

  it('the test itself notices a metric the code does not export', async () => {
    const have = await exported();
    const bogus = selectors('sum(rate(spot_rescue_worker_pods_rescued_total{outcome="x"}[5m]))');
    assert.deepEqual(bogus, [{ name: 'spot_rescue_worker_pods_rescued_total', labels: ['outcome'] }]);
    assert.equal(have.has(bogus[0]!.name), false);
    assert.equal(have.get('spot_rescue_worker_pod_outcomes_total')?.has('job'), false);
  });
});
