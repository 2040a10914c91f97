import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  intervalVariables,
  legendName,
  planPanels,
  type QueryWindow,
  substituteVariables,
} from '../../../docs/render/dashboard-panels.js';
import { DEFAULT_LAYOUT, dashboardSvg, panelBox } from '../../../docs/render/dashboard-png.js';
import {
  hasData,
  linePoints,
  type PanelData,
  panelSpec,
  unitExpression,
} from '../../../docs/render/panel-spec.js';
import { prometheusConfig } from '../../../docs/render/prometheus.js';

const dashboard = JSON.parse(
  readFileSync(new URL('../../../charts/spot-rescue/dashboards/spot-rescue.json', import.meta.url), 'utf8'),
) as { panels: { id: number; type: string; targets: { expr: string }[] }[] };

// A five-minute window, sampled every 5 s.
const window: QueryWindow = {
  startMs: 1_700_000_000_000,
  endMs: 1_700_000_300_000,
  stepSeconds: 5,
  scrapeIntervalSeconds: 5,
};
const specOptions = { width: 600, height: 240, startMs: window.startMs, endMs: window.endMs, stepMs: 5000 };

describe('the dashboard picture: panels to queries', () => {
  it('plans every panel of the chart dashboard, with no Grafana variable left in a query', () => {
    const plans = planPanels(dashboard, window);
    assert.equal(plans.length, dashboard.panels.length);
    assert.deepEqual(
      plans.map((p) => p.queries.length),
      dashboard.panels.map((p) => p.targets.length),
    );
    for (const q of plans.flatMap((p) => p.queries)) assert.doesNotMatch(q.expr, /\$/, q.expr);
  });

  it('replaces the interval variables as Grafana does for a known scrape interval', () => {
    assert.deepEqual(intervalVariables(window), {
      __interval: '5s',
      __rate_interval: '20s',
      __range: '300s',
    });
    // A step longer than four scrapes: the rate spans a step and a scrape.
    assert.equal(intervalVariables({ ...window, stepSeconds: 60 }).__rate_interval, '65s');
    const plans = planPanels(dashboard, window);
    const outcomes = plans.find((p) => p.title === 'Pods rescued, by outcome');
    assert.equal(
      outcomes?.queries[0]?.expr,
      'sum by (outcome, job_name) (increase(spot_rescue_worker_pod_outcomes_total[20s]))',
    );
    const p99 = plans.find((p) => p.title === 'Event to jobs in Redis (p99)');
    assert.match(p99?.queries[0]?.expr ?? '', /\[300s\]/);
  });

  it('queries a table at one instant, a time series over the range', () => {
    const plans = planPanels(dashboard, window);
    const table = plans.find((p) => p.type === 'table');
    assert.ok(table?.queries.every((q) => q.instant));
    assert.ok(plans.filter((p) => p.type === 'timeseries').every((p) => p.queries.every((q) => !q.instant)));
  });

  it('refuses a variable it does not know, and a panel type it cannot draw', () => {
    assert.throws(() => substituteVariables('rate(x[$__unknown])', intervalVariables(window)), /\$__unknown/);
    assert.equal(
      substituteVariables(['rate(x[$', '{__rate_interval}])'].join(''), { __rate_interval: '20s' }),
      'rate(x[20s])',
    );
    const bad = structuredClone(dashboard);
    (bad.panels[0] as { type: string }).type = 'heatmap';
    assert.throws(() => planPanels(bad, window));
  });

  it('has a formatter for every unit the dashboard uses', () => {
    for (const p of planPanels(dashboard, window)) assert.ok(unitExpression(p.unit, 'datum.value'));
    assert.throws(() => unitExpression('furlongs', 'datum.value'), /furlongs/);
  });

  it('names series by the legend format, or by their labels without one', () => {
    assert.equal(
      legendName('{{job_name}} {{outcome}}', { job_name: 'migrate-pod', outcome: 'restored' }),
      'migrate-pod restored',
    );
    assert.equal(legendName('{{queue}} {{state}}', { state: 'waiting' }), 'waiting');
    assert.equal(legendName('', { __name__: 'up', component: 'agent' }), '{component="agent"}');
    assert.equal(legendName('', {}), 'value');
  });
});

describe('the dashboard picture: data to drawing', () => {
  const plan = planPanels(dashboard, window).find((p) => p.type === 'timeseries')!;
  const series = (points: [number, number][]) => ({ name: 'a', labels: {}, points });

  it('breaks a line where a sample is missing or not a number', () => {
    const t = window.startMs;
    assert.deepEqual(
      linePoints(
        [
          [t, 1],
          [t + 5000, Number.NaN],
          [t + 10_000, 2],
          [t + 30_000, 3],
        ],
        5000,
      ),
      [
        { t, v: 1 },
        { t: t + 5000, v: null },
        { t: t + 10_000, v: 2 },
        { t: t + 15_000, v: null },
        { t: t + 30_000, v: 3 },
      ],
    );
  });

  it('says "No data" when no series has a value, NaN included', () => {
    for (const data of [
      { plan, series: [] },
      { plan, series: [series([[window.startMs, Number.NaN]])] },
    ] as PanelData[]) {
      assert.equal(hasData(data), false);
      assert.deepEqual((panelSpec(data, specOptions) as { mark: unknown }).mark, {
        type: 'text',
        text: 'No data',
        fontSize: 18,
        color: '#8e8e9e',
        font: 'DejaVu Sans',
      });
    }
  });

  it('a stat shows the last value that is a number', () => {
    const stat = planPanels(dashboard, window).find((p) => p.type === 'stat')!;
    const spec = panelSpec(
      {
        plan: stat,
        series: [
          series([
            [window.startMs, 2],
            [window.startMs + 5000, 3],
            [window.startMs + 10_000, Number.NaN],
          ]),
        ],
      },
      specOptions,
    ) as { data: { values: { v: number }[] } };
    assert.deepEqual(
      spec.data.values.map((v) => v.v),
      [3],
    );
  });

  it('draws the whole dashboard on its grid, titles and "No data" included, through Vega', async () => {
    const plans = planPanels(dashboard, window);
    const panels: PanelData[] = plans.map((p, i) => ({
      plan: p,
      series:
        i === 0
          ? []
          : [
              series([
                [window.startMs, 1],
                [window.startMs + 60_000, 2],
              ]),
            ],
    }));
    const svg = await dashboardSvg({
      title: 'spot-rescue',
      subtitle: 'unit test',
      panels,
      startMs: window.startMs,
      endMs: window.endMs,
      stepMs: 5000,
    });
    for (const p of plans) assert.ok(svg.includes(p.title.replace(/&/g, '&amp;')), `title of ${p.title}`);
    assert.equal(svg.match(/No data/g)?.length, 1);
    const first = panelBox(plans[0]!.gridPos, DEFAULT_LAYOUT);
    assert.ok(svg.includes(`translate(${first.x},${first.y})`));
  });
});

describe('the dashboard picture: Prometheus configuration', () => {
  it('scrapes each job at its targets, with the scheme of their URLs', () => {
    const config = JSON.parse(
      prometheusConfig(5, [
        { job: 'spot-rescue-agent', urls: ['http://127.0.0.1:4001', 'http://127.0.0.1:4002'] },
        { job: 'spot-rescue-worker', urls: ['https://127.0.0.1:9090'] },
      ]),
    ) as { global: object; scrape_configs: object[] };
    assert.deepEqual(config.global, { scrape_interval: '5s', scrape_timeout: '5s' });
    assert.deepEqual(config.scrape_configs, [
      {
        job_name: 'spot-rescue-agent',
        scheme: 'http',
        metrics_path: '/metrics',
        static_configs: [{ targets: ['127.0.0.1:4001', '127.0.0.1:4002'] }],
      },
      {
        job_name: 'spot-rescue-worker',
        scheme: 'https',
        metrics_path: '/metrics',
        static_configs: [{ targets: ['127.0.0.1:9090'] }],
      },
    ]);
    assert.throws(() => prometheusConfig(5, [{ job: 'x', urls: ['http://a:1', 'https://b:2'] }]), /mixes/);
  });
});
