/**
 * `npm run render:dashboard`: the chart's Grafana dashboard
 * (charts/spot-rescue/dashboards/spot-rescue.json) drawn from real data, as
 * docs/dashboard.png.
 *
 * Runs the listener, the worker and an agent per simulated node on the local
 * stack while several Spot interruptions are rescued (docs/render/rescue-traffic.ts),
 * has a real Prometheus (built from its Go module, docs/render/prometheus.ts)
 * scrape their /metrics every few seconds, then runs each panel's PromQL
 * through Prometheus's HTTP API over the run's window and draws the panels
 * in the dashboard's grid. Prints how many series and points each panel got;
 * a panel with none is drawn as "No data" and named.
 *
 *   eval "$(infra/stack env)"; npm run render:dashboard -- [--interruptions 5] [--gap 25] [--out docs/dashboard.png]
 *
 * Takes about five minutes; every process it starts is stopped at the end.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { legendName, type PanelPlan, planPanels, type QueryWindow } from './dashboard-panels.js';
import { dashboardSvg, svgToPng } from './dashboard-png.js';
import { hasData, type NamedSeries, type PanelData } from './panel-spec.js';
import { ensurePrometheusBinary, type PrometheusApi, startPrometheus, waitTargetsUp } from './prometheus.js';
import { startRescueTraffic } from './rescue-traffic.js';

const REPO_ROOT = new URL('../../', import.meta.url).pathname;
const { values: args } = parseArgs({
  options: {
    interruptions: { type: 'string', default: '5' },
    gap: { type: 'string', default: '25' },
    'memory-mib': { type: 'string', default: '64' },
    scrape: { type: 'string', default: '5' },
    out: { type: 'string', default: join(REPO_ROOT, 'docs/dashboard.png') },
    fonts: {
      type: 'string',
      default: process.env['SPOT_RESCUE_FONT_DIR'] ?? '/usr/share/fonts/truetype/dejavu',
    },
  },
});
const interruptions = Number(args.interruptions);
const gapSeconds = Number(args.gap);
const scrapeIntervalSeconds = Number(args.scrape);
const stateDir = process.env['SPOT_RESCUE_STATE_DIR'];
if (!stateDir || !(interruptions >= 1) || !(gapSeconds >= 0) || !(scrapeIntervalSeconds >= 1)) {
  console.error(
    !stateDir
      ? 'render:dashboard: the local stack environment is missing: eval "$(infra/stack env)" first'
      : 'render:dashboard: --interruptions >= 1, --gap >= 0 and --scrape >= 1 (seconds)',
  );
  process.exit(2);
}

const t0 = Date.now();
const say = (text: string) => console.log(`+${((Date.now() - t0) / 1000).toFixed(0).padStart(4)}s  ${text}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function queryPanel(api: PrometheusApi, plan: PanelPlan, w: QueryWindow): Promise<PanelData> {
  const series: NamedSeries[] = [];
  for (const q of plan.queries) {
    const got = q.instant
      ? await api.queryInstant(q.expr, w.endMs)
      : await api.queryRange(q.expr, w.startMs, w.endMs, w.stepSeconds);
    for (const s of got) series.push({ name: legendName(q.legendFormat, s.labels), ...s });
  }
  return { plan, series };
}

async function main(): Promise<number> {
  const dashboard = JSON.parse(
    await readFile(join(REPO_ROOT, 'charts/spot-rescue/dashboards/spot-rescue.json'), 'utf8'),
  ) as unknown;
  const binary = await ensurePrometheusBinary();
  const runDir = join(stateDir as string, 'dashboard', new Date().toISOString().replace(/[:.]/g, '-'));
  await mkdir(join(runDir, 'logs'), { recursive: true });
  say(`logs in ${join(runDir, 'logs')}`);

  const traffic = await startRescueTraffic({
    interruptions,
    gapSeconds,
    memoryMib: Number(args['memory-mib']),
    stateDir: stateDir as string,
    logDir: join(runDir, 'logs'),
    say,
  });
  let prometheus: Awaited<ReturnType<typeof startPrometheus>> | undefined;
  try {
    prometheus = await startPrometheus({
      binary,
      dir: join(runDir, 'prometheus'),
      scrapeIntervalSeconds,
      jobs: traffic.scrapeJobs,
    });
    const targets = traffic.scrapeJobs.reduce((n, j) => n + j.urls.length, 0);
    await waitTargetsUp(prometheus.api, targets);
    say(`Prometheus scraping ${targets} targets every ${scrapeIntervalSeconds} s`);
    const startMs = Date.now() - scrapeIntervalSeconds * 1000;
    // A few scrapes of the idle services first, so the panels start flat.
    await sleep(3 * scrapeIntervalSeconds * 1000);

    const done = await traffic.run();
    say(`${done.finalized} nodes finalized, ${done.restored} pods restored`);
    // Until the last rescue has left the rate window ($__rate_interval: 4 scrapes here), and one more scrape.
    await sleep(6 * scrapeIntervalSeconds * 1000);
    const window: QueryWindow = {
      startMs,
      endMs: Date.now(),
      stepSeconds: scrapeIntervalSeconds,
      scrapeIntervalSeconds,
    };

    const plans = planPanels(dashboard, window);
    const panels: PanelData[] = [];
    for (const plan of plans) {
      const data = await queryPanel(prometheus.api, plan, window);
      const points = data.series.reduce(
        (n, s) => n + s.points.filter(([, v]) => Number.isFinite(v)).length,
        0,
      );
      console.log(
        `  ${plan.title.padEnd(50)} ${String(data.series.length).padStart(3)} series ${String(points).padStart(5)} points${hasData(data) ? '' : '  NO DATA'}`,
      );
      panels.push(data);
    }
    const empty = panels.filter((p) => !hasData(p)).map((p) => p.plan.title);
    const minutes = ((window.endMs - window.startMs) / 60_000).toFixed(1);
    const svg = await dashboardSvg({
      title: 'spot-rescue',
      subtitle:
        `${interruptions} Spot interruptions rescued on the local stack (runc + CRIU, kube-apiserver, Redis, moto), ` +
        `scraped every ${scrapeIntervalSeconds} s by Prometheus; ${minutes} min, ${new Date(window.startMs).toISOString().slice(0, 16).replace('T', ' ')} UTC`,
      panels,
      startMs: window.startMs,
      endMs: window.endMs,
      stepMs: window.stepSeconds * 1000,
    });
    const png = svgToPng(svg, [args.fonts as string]);
    await writeFile(args.out as string, png);
    say(`wrote ${args.out} (${(png.length / 1024).toFixed(0)} KiB)`);
    if (empty.length > 0) console.log(`panels with no data: ${empty.join('; ')}`);
    return 0;
  } finally {
    await prometheus?.stop();
    await traffic.stop();
    await rm(join(runDir, 'prometheus', 'data'), { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
