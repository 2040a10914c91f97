import type { V1Pod } from '@kubernetes/client-node';
import type { EventRef } from '../common/events.js';
import {
  type EvictPodJob,
  type FinalizeNodeJob,
  JOB_NAMES,
  jobId,
  type MigratePodJob,
  priorityForDeadline,
  priorityForMigration,
  QUEUES,
} from '../common/jobs.js';
import { optedIn } from '../common/opt-in.js';
import { checkpointMemoryEstimate } from '../common/pod-memory.js';

/** Only orders migrations (smallest first); the worker's budget uses its own configured default. */
const ORDERING_DEFAULT_MEMORY_BYTES = 512 * 2 ** 20;

export interface NodeRef {
  name: string;
  instanceId: string;
  zone?: string;
}

export type PlannedJob =
  | {
      queue: typeof QUEUES.rescue;
      name: typeof JOB_NAMES.migratePod;
      jobId: string;
      priority: number;
      data: MigratePodJob;
    }
  | {
      queue: typeof QUEUES.evict;
      name: typeof JOB_NAMES.evictPod;
      jobId: string;
      priority: number;
      data: EvictPodJob;
    }
  | {
      queue: typeof QUEUES.finalize;
      name: typeof JOB_NAMES.finalizeNode;
      jobId: string;
      priority: number;
      data: FinalizeNodeJob;
    };

export interface PodPlanInput {
  event: EventRef;
  node: NodeRef;
  pods: readonly V1Pod[];
  /** Labels of a namespace, from the cache; undefined when unknown. */
  namespaceLabels: (namespace: string) => Readonly<Record<string, string>> | undefined;
  /** Pods not opted in: an evict-pod job each, or left alone for another drainer. */
  unoptedPods: 'evict' | 'ignore';
  /** Deadline for pod jobs; the event's own, or a budget when the event has none (rebalance). */
  podDeadline: string;
  now?: number;
}

export interface PodPlan {
  jobs: PlannedJob[];
  skipped: { pod: string; reason: string }[];
}

/** Why a pod needs no job, or undefined when it does. */
export function skipReason(pod: V1Pod): string | undefined {
  if (pod.metadata?.ownerReferences?.some((o) => o.kind === 'DaemonSet' && o.controller !== false)) {
    return 'owned by a DaemonSet';
  }
  if (pod.metadata?.annotations?.['kubernetes.io/config.mirror'] !== undefined) return 'mirror (static) pod';
  const phase = pod.status?.phase;
  if (phase === 'Succeeded' || phase === 'Failed') return `finished (${phase})`;
  if (pod.metadata?.deletionTimestamp) return 'already being deleted';
  return undefined;
}

export { optedIn };

/**
 * The jobs for one doomed node: migrate-pod for opted-in pods, evict-pod for
 * the rest (unless configured to leave them), and one finalize-node. Job ids
 * are derived from the event and the pod uid, so planning the same event
 * twice yields the same ids.
 */
export function planNode(input: PodPlanInput): PodPlan {
  const { event, node, podDeadline } = input;
  const now = input.now ?? Date.now();
  const podPriority = priorityForDeadline(podDeadline, now);
  const jobs: PlannedJob[] = [];
  const skipped: PodPlan['skipped'] = [];
  const planned: string[] = [];
  const sorted = [...input.pods].sort((a, b) =>
    `${a.metadata?.namespace}/${a.metadata?.name}`.localeCompare(
      `${b.metadata?.namespace}/${b.metadata?.name}`,
    ),
  );
  for (const pod of sorted) {
    const m = pod.metadata;
    const label = `${m?.namespace}/${m?.name}`;
    if (!m?.uid || !m.name || !m.namespace) {
      skipped.push({ pod: label, reason: 'no uid, name or namespace' });
      continue;
    }
    const why = skipReason(pod);
    if (why) {
      skipped.push({ pod: label, reason: why });
      continue;
    }
    const podRef = { namespace: m.namespace, name: m.name, uid: m.uid };
    if (optedIn(pod, input.namespaceLabels)) {
      jobs.push({
        queue: QUEUES.rescue,
        name: JOB_NAMES.migratePod,
        jobId: jobId(JOB_NAMES.migratePod, event.id, m.uid),
        priority: priorityForMigration(
          podDeadline,
          checkpointMemoryEstimate(pod, ORDERING_DEFAULT_MEMORY_BYTES),
          now,
        ),
        data: { event, node, pod: podRef, deadline: podDeadline },
      });
    } else if (input.unoptedPods === 'evict') {
      jobs.push({
        queue: QUEUES.evict,
        name: JOB_NAMES.evictPod,
        jobId: jobId(JOB_NAMES.evictPod, event.id, m.uid),
        priority: podPriority,
        data: { event, node, pod: podRef, deadline: podDeadline, reason: `${event.kind} on ${node.name}` },
      });
    } else {
      skipped.push({ pod: label, reason: 'not opted in to migration, left to another drainer' });
      continue;
    }
    planned.push(m.uid);
  }
  jobs.push({
    queue: QUEUES.finalize,
    name: JOB_NAMES.finalizeNode,
    jobId: jobId(JOB_NAMES.finalizeNode, event.id, node.instanceId),
    priority: priorityForDeadline(event.deadline, now),
    data: { event, node, podUids: planned, deadline: event.deadline },
  });
  return { jobs, skipped };
}
