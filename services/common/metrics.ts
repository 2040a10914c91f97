import { collectDefaultMetrics, Registry } from 'prom-client';

/**
 * A registry per service instance rather than the global one, so tests can
 * run a listener and a worker in one process without metric name clashes.
 */
export function createMetricsRegistry(service: string, withDefaults = true): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  if (withDefaults) collectDefaultMetrics({ register: registry, prefix: 'spot_rescue_' });
  return registry;
}
