import { setTimeout as delay } from 'node:timers/promises';
import type { ProvisionCapacityJob } from '../common/jobs.js';
import type { Logger } from '../common/logger.js';
import { parseProviderId } from '../common/provider-id.js';
import type { CapacityProvider, LaunchedInstance } from './capacity.js';
import type { Cluster } from './cluster.js';
import type { WorkerMetrics } from './metrics.js';
import { nodeView } from './node-view.js';

/**
 * What makes a launched instance a Node where nothing else does. In a cluster
 * the instance's own kubelet registers it and there is none; the local
 * simulation passes one in (infra/sim/kwok-node-joiner.ts).
 */
export interface NodeJoiner {
  join(instance: LaunchedInstance): Promise<void>;
}

export interface ProvisionDeps {
  provider: CapacityProvider;
  joiner?: NodeJoiner | undefined;
  cluster: Cluster;
  metrics: WorkerMetrics;
  log: Logger;
  joinTimeoutMs: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/**
 * provision-capacity: launch what the provider launches and wait until each
 * instance is a Ready Node, so the restores waiting for a target find it.
 */
export async function provisionCapacity(
  job: ProvisionCapacityJob,
  d: ProvisionDeps,
): Promise<{ instances: string[]; nodes: string[] }> {
  const now = d.now ?? Date.now;
  const sleep = d.sleep ?? delay;
  const t0 = now();
  const log = d.log.child({ event: job.event.id, node: job.node.name, mode: d.provider.mode });
  let instances: LaunchedInstance[];
  try {
    instances = await d.provider.provision(job, log);
  } catch (err) {
    d.metrics.provisioningSeconds.observe({ mode: d.provider.mode, result: 'failed' }, (now() - t0) / 1000);
    throw err;
  }
  if (instances.length === 0) return { instances: [], nodes: [] };
  for (const i of instances) await d.joiner?.join(i);
  const until = t0 + d.joinTimeoutMs;
  const wanted = new Set(instances.map((i) => i.instanceId));
  for (;;) {
    const ready = (await d.cluster.listNodes()).filter((n) => {
      const id = parseProviderId(n.spec?.providerID)?.instanceId;
      return id !== undefined && wanted.has(id) && nodeView(n).ready;
    });
    if (ready.length === wanted.size) {
      d.metrics.provisioningSeconds.observe({ mode: d.provider.mode, result: 'ready' }, (now() - t0) / 1000);
      const nodes = ready.map((n) => n.metadata?.name ?? '');
      log.info({ nodes, seconds: (now() - t0) / 1000 }, 'provisioned nodes are ready');
      return { instances: [...wanted], nodes };
    }
    if (now() >= until) {
      d.metrics.provisioningSeconds.observe(
        { mode: d.provider.mode, result: 'timeout' },
        (now() - t0) / 1000,
      );
      throw new Error(`instances ${[...wanted].join(', ')} did not become Ready nodes in time`);
    }
    await sleep(1000);
  }
}
