import { setTimeout as delay } from 'node:timers/promises';
import type { V1Pod } from '@kubernetes/client-node';
import type { Cluster } from './cluster.js';

export interface DrainOptions {
  /** Epoch ms the node dies. */
  deadline: number;
  /** Grace the pod is given (already capped to what the deadline allows). */
  gracePeriodSeconds: number;
  /** Time kept for the final delete call. */
  leadMs: number;
  retryMs?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export type DrainOutcome = 'evicted' | 'deleted' | 'gone';

/**
 * Drains one pod the way `kubectl drain --timeout` does: the Eviction API
 * (which honours PodDisruptionBudgets) retried while a budget blocks it, and
 * a plain delete once only the grace period is left before the node dies,
 * because a pod on a dead node helps no budget.
 */
export async function drainPod(cluster: Cluster, pod: V1Pod, o: DrainOptions): Promise<DrainOutcome> {
  const now = o.now ?? Date.now;
  const sleep = o.sleep ?? delay;
  const ns = pod.metadata?.namespace ?? 'default';
  const name = pod.metadata?.name ?? '';
  const uid = pod.metadata?.uid ?? '';
  const forceAt = o.deadline - o.gracePeriodSeconds * 1000 - o.leadMs;
  for (;;) {
    const grace = Math.max(
      0,
      Math.min(o.gracePeriodSeconds, Math.floor((o.deadline - now() - o.leadMs) / 1000)),
    );
    if (now() >= forceAt) {
      return (await cluster.deletePod(ns, name, uid, grace)) ? 'deleted' : 'gone';
    }
    const r = await cluster.evictPod(ns, name, uid, grace);
    if (r === 'evicted') return 'evicted';
    if (r === 'gone') return 'gone';
    await sleep(Math.max(0, Math.min(o.retryMs ?? 1000, forceAt - now())));
  }
}
