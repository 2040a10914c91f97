import { createHash } from 'node:crypto';
import type { V1Pod } from '@kubernetes/client-node';
import { statusOf } from '../../common/kube.js';
import type { Run } from './context.js';

/** On a demand placeholder: the uid of the pod it asks room for. */
export const DEMAND_FOR_LABEL = 'spot-rescue.io/demand-for';
/** What the placeholder runs on the node it gets; it only holds the pod's requests. */
const PLACEHOLDER_IMAGE = 'registry.k8s.io/pause:3.10';

/**
 * In `karpenter` mode the worker launches nothing: the autoscaler only adds
 * a node for a pod it sees Pending and unschedulable. When no node can take
 * the pod, a placeholder with the pod's requests and node constraints shows
 * that demand before anything is frozen, so the node is on its way while the
 * checkpoint runs. It is withdrawn once a target is chosen, and whatever way
 * the job ends.
 */
export function demandPlaceholder(original: V1Pod, volumeZones: string[]): V1Pod {
  const uid = original.metadata?.uid ?? '';
  const spec = original.spec ?? { containers: [] };
  const zoneTerm = volumeZones.length
    ? [{ matchExpressions: [{ key: 'topology.kubernetes.io/zone', operator: 'In', values: volumeZones }] }]
    : [];
  const own =
    spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
  // Zones ANDed with the pod's own terms (terms are alternatives; expressions of one term all apply).
  const terms =
    zoneTerm.length && own.length
      ? own.map((t) => ({
          ...t,
          matchExpressions: [...(t.matchExpressions ?? []), ...zoneTerm[0]!.matchExpressions],
        }))
      : [...own, ...zoneTerm];
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: placeholderName(original),
      namespace: original.metadata?.namespace,
      labels: { [DEMAND_FOR_LABEL]: uid },
    },
    spec: {
      containers: spec.containers.map((c) => ({
        name: c.name,
        image: PLACEHOLDER_IMAGE,
        ...(c.resources?.requests ? { resources: { requests: c.resources.requests } } : {}),
      })),
      ...(spec.nodeSelector ? { nodeSelector: spec.nodeSelector } : {}),
      ...(spec.tolerations ? { tolerations: spec.tolerations } : {}),
      ...(terms.length
        ? {
            affinity: {
              nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: terms } },
            },
          }
        : {}),
      ...(spec.priorityClassName ? { priorityClassName: spec.priorityClassName } : {}),
      terminationGracePeriodSeconds: 0,
      automountServiceAccountToken: false,
    },
  };
}

export function placeholderName(original: V1Pod): string {
  const h = createHash('sha256')
    .update(original.metadata?.uid ?? '')
    .digest('hex')
    .slice(0, 10);
  return `spot-rescue-demand-${h}`;
}

export async function showDemand(run: Run, original: V1Pod): Promise<void> {
  const zones = await run.d.cluster.volumeZones(original);
  try {
    await run.d.cluster.createPod(demandPlaceholder(original, zones));
    run.log.info('no node fits: a placeholder shows the demand to the autoscaler');
  } catch (err) {
    if (statusOf(err) !== 409) run.log.warn({ err: (err as Error).message }, 'could not show demand');
  }
}

export async function withdrawDemand(run: Run): Promise<void> {
  if (run.d.config.provisionMode !== 'karpenter') return;
  const pods = await run.d.cluster.listPods(run.namespace, `${DEMAND_FOR_LABEL}=${run.uid}`);
  for (const p of pods)
    await run.d.cluster.deletePod(run.namespace, p.metadata?.name ?? '', p.metadata?.uid ?? '', 0);
}

/** A pod that only holds room for this migration: it does not count against the room it holds. */
export function isOwnPlaceholder(pod: V1Pod, uid: string): boolean {
  return pod.metadata?.labels?.[DEMAND_FOR_LABEL] === uid;
}
