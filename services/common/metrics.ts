import {
  type Counter,
  collectDefaultMetrics,
  Gauge,
  Histogram,
  type LabelValues,
  Registry,
} from 'prom-client';
import { buildInfo } from './build-info.js';

/**
 * A registry per service instance rather than the global one, so tests can
 * run a listener and a worker in one process without metric name clashes.
 *
 * No default labels: Prometheus adds the target's own (job, namespace, pod,
 * and the Prometheus Operator a `service` label, which a label of ours by that
 * name would collide with). Process and Node.js metrics keep their standard,
 * unprefixed names (process_cpu_seconds_total, nodejs_heap_size_used_bytes, ...)
 * so stock dashboards work. Which component a series comes from is in
 * spot_rescue_build_info and in each metric's own name.
 */
export function createMetricsRegistry(component: string, withDefaults = true): Registry {
  const registry = new Registry();
  if (withDefaults) collectDefaultMetrics({ register: registry });
  const info = buildInfo();
  new Gauge({
    name: 'spot_rescue_build_info',
    help: 'Always 1; the labels say which version of which component runs on which Node.js',
    labelNames: ['component', 'version', 'node_version'],
    registers: [registry],
  }).set({ component, version: info.version, node_version: info.nodeVersion }, 1);
  return registry;
}

/** What stage timing code needs: the component is filled in. */
export interface StageDurations {
  observe(labels: { stage: string }, seconds: number): void;
  startTimer(labels: { stage: string }): () => number;
}

export const STAGE_DURATION_METRIC = 'spot_rescue_stage_duration_seconds';

/**
 * One histogram name for the duration of every stage of a rescue, whichever
 * component runs it (worker: dump, upload, restore, ...; agent: checkpoint,
 * upload, download, restore), told apart by `component`, so one query covers
 * the whole pipeline.
 */
export function stageDurations(registry: Registry, component: string, buckets: number[]): StageDurations {
  const h = new Histogram({
    name: STAGE_DURATION_METRIC,
    help: 'Duration of each stage of a rescue, by component and stage',
    labelNames: ['component', 'stage'],
    buckets,
    registers: [registry],
  });
  return {
    observe: ({ stage }, seconds) => h.observe({ component, stage }, seconds),
    startTimer: ({ stage }) => h.startTimer({ component, stage }),
  };
}

/**
 * Exports these label sets at 0 from start-up. A counter series that first
 * appears at 1 has no earlier sample, so rate() and increase() never see that
 * first increment: without this, the first rescue a fresh worker or a node's
 * agent handles is missing from the dashboard and from the alerts.
 */
export function exportAtZero<T extends string>(
  counter: Counter<T>,
  labelSets: readonly LabelValues<T>[],
): void {
  for (const labels of labelSets) counter.inc(labels, 0);
}
