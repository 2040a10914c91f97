import { setTimeout as delay } from 'node:timers/promises';
import { type AutoScalingClient, CompleteLifecycleActionCommand } from '@aws-sdk/client-auto-scaling';
import type { Redis } from 'ioredis';
import type { FinalizeNodeJob } from '../common/jobs.js';
import type { Logger } from '../common/logger.js';
import type { Cluster } from './cluster.js';
import type { WorkerMetrics } from './metrics.js';
import { RESTORED_FROM_LABEL } from './restored-pod.js';

export interface NodeOutcome {
  node: string;
  instanceId: string;
  eventId: string;
  planned: number;
  restored: number;
  /** Planned pods no longer on the node and not restored: evicted or gone. */
  removed: number;
  /** Planned pods still on the node when finalize gave up waiting. */
  remaining: number;
  lifecycleCompleted: boolean;
  finishedAt: string;
}

export interface FinalizeDeps {
  cluster: Cluster;
  autoscaling: Pick<AutoScalingClient, 'send'>;
  redis: Redis;
  prefix: string;
  metrics: WorkerMetrics;
  log: Logger;
  /** How long to wait for the node's pods when the event has no deadline. */
  maxWaitMs?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  pollMs?: number;
}

/**
 * finalize-node: once every planned pod has left the node (restored,
 * evicted or gone) or the deadline is near, complete the ASG lifecycle
 * action with CONTINUE so the instance terminates without waiting out the
 * hook's heartbeat, and record how the node went.
 */
export async function finalizeNode(job: FinalizeNodeJob, d: FinalizeDeps): Promise<NodeOutcome> {
  const now = d.now ?? Date.now;
  const sleep = d.sleep ?? delay;
  const until = job.deadline ? Date.parse(job.deadline) - 2000 : now() + (d.maxWaitMs ?? 600_000);
  const planned = new Set(job.podUids);
  let remaining = planned.size;
  for (;;) {
    const onNode = await d.cluster.listPodsOnNode(job.node.name);
    remaining = onNode.filter(
      (p) => planned.has(p.metadata?.uid ?? '') && !p.metadata?.deletionTimestamp,
    ).length;
    if (remaining === 0 || now() >= until) break;
    await sleep(Math.min(d.pollMs ?? 1000, Math.max(0, until - now())));
  }
  let restored = 0;
  for (const uid of planned) {
    if ((await d.cluster.listAllPods(`${RESTORED_FROM_LABEL}=${uid}`)).length > 0) restored++;
  }

  let lifecycleCompleted = false;
  const la = job.event.lifecycleAction;
  if (la) {
    try {
      await d.autoscaling.send(
        new CompleteLifecycleActionCommand({
          AutoScalingGroupName: la.autoScalingGroupName,
          LifecycleHookName: la.lifecycleHookName,
          LifecycleActionResult: 'CONTINUE',
          ...(la.lifecycleActionToken
            ? { LifecycleActionToken: la.lifecycleActionToken }
            : { InstanceId: la.instanceId }),
        }),
      );
      lifecycleCompleted = true;
    } catch (err) {
      // A retried job, or a hook that already timed out: the action is no longer pending.
      // Auto Scaling answers this with its generic ValidationError: the message is its only sign.
      const msg = (err as Error).message ?? '';
      if (/no active lifecycle action|not found/i.test(msg)) lifecycleCompleted = true;
      else throw err;
    }
  }

  const outcome: NodeOutcome = {
    node: job.node.name,
    instanceId: job.node.instanceId,
    eventId: job.event.id,
    planned: planned.size,
    restored,
    removed: planned.size - remaining - restored,
    remaining,
    lifecycleCompleted,
    finishedAt: new Date(now()).toISOString(),
  };
  const kind = remaining > 0 ? 'incomplete' : restored === planned.size ? 'all-rescued' : 'some-evicted';
  d.metrics.nodeOutcomes.inc({ outcome: kind });
  await d.redis.set(
    `${d.prefix}:node-outcome:${job.node.name}`,
    JSON.stringify(outcome),
    'EX',
    7 * 24 * 3600,
  );
  d.log.info({ ...outcome, kind }, 'node finalized');
  return outcome;
}
