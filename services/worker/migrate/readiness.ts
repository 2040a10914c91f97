import type { V1Pod } from '@kubernetes/client-node';
import { isRunning } from '../restored-pod.js';
import { FallBack, type Run } from './context.js';

/** How many times a restored pod deleted by someone else before it ran is created again. */
const MAX_RECREATES = 3;

/**
 * Waits until the restored pod runs (its containers ready), until the
 * restore deadline. Its process already runs on the target; if only the Pod
 * object went (a delete of the original by name alone can land on a
 * same-name successor created a moment later: kwok does this, a kubelet
 * checks the uid), or another pod took its name, it is created again.
 */
export async function waitRunning(run: Run, created: V1Pod, create: () => Promise<V1Pod>): Promise<V1Pod> {
  const { d } = run;
  let current = created;
  let recreated = 0;
  const p = await d.metrics.stage('ready', () =>
    waitFor(
      async () => {
        const named = await d.cluster.getPod(run.namespace, current.metadata?.name ?? '');
        // By uid, not by name: under a StatefulSet's (or a bare pod's) name, the pod
        // found may be one its controller started afresh after our copy went, and
        // reporting that as restored would hide a lost state.
        const uid = current.metadata?.uid;
        const p = named && (!uid || named.metadata?.uid === uid) ? named : null;
        if (!p && recreated < MAX_RECREATES) {
          recreated++;
          run.log.warn(
            { restoredPod: current.metadata?.name, recreated, replacedBy: named?.metadata?.uid },
            named
              ? 'restored pod replaced by another under its name; creating it again'
              : 'restored pod vanished; creating it again',
          );
          current = await create();
          return null;
        }
        if (!p) return null;
        const failed = restoredPodFailure(p);
        // Not retried by polling: a restore that died will not come back before the deadline.
        if (failed) throw new FallBack(failed);
        return isRunning(p) ? p : null;
      },
      run.restoreDeadline,
      run.now,
      run.sleep,
      run.pollMs,
    ),
  );
  if (!p) throw new FallBack('the restored pod did not become ready in time');
  return p;
}

/** Container states that mean the restored process will not run: waiting longer only delays the fallback. */
const FAILED_WAITING = new Set([
  'CrashLoopBackOff',
  'ErrImagePull',
  'ImagePullBackOff',
  'InvalidImageName',
  'CreateContainerError',
  'CreateContainerConfigError',
  'RunContainerError',
]);

/** Why a restored pod has already failed, or null while it may still come up. */
export function restoredPodFailure(pod: V1Pod): string | null {
  const phase = pod.status?.phase;
  if (phase === 'Failed' || phase === 'Succeeded') return `the restored pod ended (${phase})`;
  // Pinned to one node, a pod the scheduler refuses there (anti-affinity, topology spread, host
  // ports taken) has nowhere else to go.
  const scheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
  if (scheduled?.status === 'False' && scheduled.reason === 'Unschedulable')
    return `the scheduler refuses the restored pod on its target: ${scheduled.message ?? 'unschedulable'}`;
  for (const c of pod.status?.containerStatuses ?? []) {
    const t = c.state?.terminated;
    if (t) return `restored container ${c.name} exited (${t.reason ?? `code ${t.exitCode}`})`;
    if ((c.restartCount ?? 0) > 0) return `restored container ${c.name} restarted: its restore did not hold`;
    const w = c.state?.waiting?.reason;
    if (w && FAILED_WAITING.has(w)) return `restored container ${c.name} cannot run (${w})`;
  }
  return null;
}

export async function waitFor<T>(
  probe: () => Promise<T | null>,
  until: number,
  now: () => number,
  sleep: (ms: number) => Promise<void>,
  pollMs: number,
): Promise<T | null> {
  for (;;) {
    try {
      const v = await probe();
      if (v) return v;
    } catch (err) {
      if (err instanceof FallBack) throw err;
      // A failed poll (an API request timed out) says nothing about the pod: poll again while there is time.
      if (now() >= until) throw err;
    }
    if (now() >= until) return null;
    await sleep(pollMs);
  }
}
