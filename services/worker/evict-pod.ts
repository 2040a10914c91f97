import type { EvictPodJob } from '../common/jobs.js';
import type { Logger } from '../common/logger.js';
import type { PodOutcome } from '../common/outcomes.js';
import { fallbackGraceSeconds } from './budget.js';
import type { Cluster } from './cluster.js';
import { drainPod } from './drain.js';
import type { WorkerMetrics } from './metrics.js';
import type { WorkerConfig } from './settings.js';

export interface EvictDeps {
  cluster: Cluster;
  metrics: WorkerMetrics;
  log: Logger;
  config: Pick<WorkerConfig, 'evictionLeadMs'>;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/** evict-pod: a pod that is not migrated is drained before its node dies, PDBs permitting. */
export async function evictPod(
  job: EvictPodJob,
  d: EvictDeps,
): Promise<{ outcome: PodOutcome; how: string }> {
  const now = d.now ?? Date.now;
  const { namespace, name, uid } = job.pod;
  const pod = await d.cluster.getPod(namespace, name);
  if (!pod || pod.metadata?.uid !== uid) {
    d.metrics.outcomes.inc({ outcome: 'gone', job_name: 'evict-pod' });
    return { outcome: 'gone', how: 'already gone' };
  }
  const deadline = Date.parse(job.deadline);
  const grace = fallbackGraceSeconds({
    now: now(),
    deadline,
    gracePeriodSeconds: pod.spec?.terminationGracePeriodSeconds ?? 30,
    evictionLeadMs: d.config.evictionLeadMs,
  });
  try {
    await d.cluster.recordEvent(
      pod,
      'Normal',
      'SpotRescueEvicting',
      `node ${job.node.name} is being reclaimed (${job.event.kind}, ${job.event.id}): evicting with ${grace} s grace${job.reason ? `: ${job.reason}` : ''}`,
    );
  } catch (err) {
    d.log.warn({ err: (err as Error).message }, 'could not record event');
  }
  const how = await drainPod(d.cluster, pod, {
    deadline,
    gracePeriodSeconds: grace,
    leadMs: d.config.evictionLeadMs,
    now,
    ...(d.sleep ? { sleep: d.sleep } : {}),
  });
  const outcome: PodOutcome = how === 'gone' ? 'gone' : 'evicted';
  d.metrics.outcomes.inc({ outcome, job_name: 'evict-pod' });
  d.log.info({ pod: `${namespace}/${name}`, how }, 'evict-pod done');
  return { outcome, how };
}
