import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { z } from 'zod';

/**
 * A real Prometheus for the dashboard picture: built from its Go module into
 * the tools cache (infra/lib/build-prometheus.sh), run niced with a throwaway
 * TSDB, scraping static targets, and queried through its HTTP API.
 */

const REPO_ROOT = new URL('../../', import.meta.url).pathname;

/** Builds Prometheus unless the tools cache has it; the script's progress lines go to stderr. */
export async function ensurePrometheusBinary(): Promise<string> {
  const child = spawn(join(REPO_ROOT, 'infra/lib/build-prometheus.sh'), ['--print-path'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  if (code !== 0) throw new Error(`infra/lib/build-prometheus.sh exited with ${code}`);
  return out.trim();
}

export interface ScrapeJob {
  job: string;
  /** Base URLs (http://host:port); /metrics is scraped on each. */
  urls: string[];
}

/** prometheus.yml for static targets; JSON is YAML, so no YAML writer is needed. */
export function prometheusConfig(scrapeIntervalSeconds: number, jobs: readonly ScrapeJob[]): string {
  return JSON.stringify(
    {
      global: { scrape_interval: `${scrapeIntervalSeconds}s`, scrape_timeout: `${scrapeIntervalSeconds}s` },
      scrape_configs: jobs.map((j) => {
        const schemes = new Set(j.urls.map((u) => new URL(u).protocol.replace(':', '')));
        if (schemes.size > 1) throw new Error(`job ${j.job} mixes http and https targets`);
        return {
          job_name: j.job,
          scheme: [...schemes][0] ?? 'http',
          metrics_path: '/metrics',
          static_configs: [{ targets: j.urls.map((u) => new URL(u).host) }],
        };
      }),
    },
    null,
    2,
  );
}

const sampleSchema = z.tuple([z.number(), z.string()]);
const matrixSchema = z.object({
  status: z.literal('success'),
  data: z.object({
    resultType: z.literal('matrix'),
    result: z.array(z.object({ metric: z.record(z.string(), z.string()), values: z.array(sampleSchema) })),
  }),
});
const vectorSchema = z.object({
  status: z.literal('success'),
  data: z.object({
    resultType: z.literal('vector'),
    result: z.array(z.object({ metric: z.record(z.string(), z.string()), value: sampleSchema })),
  }),
});
const targetsSchema = z.object({
  status: z.literal('success'),
  data: z.object({
    activeTargets: z.array(
      z.object({ scrapePool: z.string(), scrapeUrl: z.string(), health: z.string(), lastError: z.string() }),
    ),
  }),
});

export interface Series {
  labels: Record<string, string>;
  /** [unix ms, value]; NaN where a quantile had no observations to rank. */
  points: [number, number][];
}

const toPoints = (values: [number, string][]): [number, number][] =>
  values.map(([t, v]): [number, number] => [t * 1000, Number(v)]);

export class PrometheusApi {
  constructor(readonly url: string) {}

  private async get(path: string, params: Record<string, string>): Promise<unknown> {
    const res = await fetch(`${this.url}${path}?${new URLSearchParams(params)}`);
    const body = await res.json();
    if (!res.ok) throw new Error(`Prometheus ${path} answered ${res.status}: ${JSON.stringify(body)}`);
    return body;
  }

  async queryRange(expr: string, startMs: number, endMs: number, stepSeconds: number): Promise<Series[]> {
    const body = matrixSchema.parse(
      await this.get('/api/v1/query_range', {
        query: expr,
        start: String(startMs / 1000),
        end: String(endMs / 1000),
        step: `${stepSeconds}s`,
      }),
    );
    return body.data.result.map((r) => ({ labels: r.metric, points: toPoints(r.values) }));
  }

  async queryInstant(expr: string, atMs: number): Promise<Series[]> {
    const body = vectorSchema.parse(
      await this.get('/api/v1/query', { query: expr, time: String(atMs / 1000) }),
    );
    return body.data.result.map((r) => ({ labels: r.metric, points: toPoints([r.value]) }));
  }

  async targets() {
    return targetsSchema.parse(await this.get('/api/v1/targets', { state: 'active' })).data.activeTargets;
  }
}

export interface RunningPrometheus {
  api: PrometheusApi;
  stop(): Promise<void>;
}

/** A loopback port nobody listens on right now. */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const address = srv.address();
  await new Promise((r) => srv.close(r));
  if (!address || typeof address === 'string') throw new Error('no port');
  return address.port;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts Prometheus at the lowest CPU priority, on a free loopback port, and waits until it is ready. */
export async function startPrometheus(o: {
  binary: string;
  dir: string;
  scrapeIntervalSeconds: number;
  jobs: readonly ScrapeJob[];
}): Promise<RunningPrometheus> {
  await mkdir(join(o.dir, 'data'), { recursive: true });
  const config = join(o.dir, 'prometheus.yml');
  await writeFile(config, prometheusConfig(o.scrapeIntervalSeconds, o.jobs));
  await promisify(execFile)(o.binary, ['--version']);
  const port = await freePort();
  const log: string[] = [];
  const child: ChildProcess = spawn(
    'nice',
    [
      '-n',
      '19',
      o.binary,
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(o.dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  child.stderr?.on('data', (d: Buffer) => log.push(d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  const api = new PrometheusApi(`http://127.0.0.1:${port}`);
  for (const end = Date.now() + 60_000; Date.now() < end; ) {
    if (child.exitCode !== null) break;
    const ready = await fetch(`${api.url}/-/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) return { api, stop };
    await sleep(250);
  }
  await stop();
  throw new Error(`Prometheus did not become ready:\n${log.join('').slice(-2000)}`);
}

/** Waits until every target has been scraped successfully once; a target still down names itself. */
export async function waitTargetsUp(api: PrometheusApi, expected: number, timeoutMs = 60_000): Promise<void> {
  let last: Awaited<ReturnType<PrometheusApi['targets']>> = [];
  for (const end = Date.now() + timeoutMs; Date.now() < end; ) {
    last = await api.targets();
    if (last.length === expected && last.every((t) => t.health === 'up')) return;
    await sleep(500);
  }
  const down = last
    .filter((t) => t.health !== 'up')
    .map((t) => `${t.scrapeUrl} (${t.health}: ${t.lastError})`);
  throw new Error(`Prometheus targets not up: ${down.join(', ') || `${last.length} of ${expected} known`}`);
}
