import type { V1Pod } from '@kubernetes/client-node';
import { isRunning, isStaged, pinnedNode } from '../restored-pod.js';
import { FallBack, type Run } from './context.js';
import { type RefusalVerdict, refusalVerdict, schedulerRefusal } from './scheduler-refusal.js';

/** How many times a restored pod deleted by someone else, before or after it ran, is created again. */
const MAX_RECREATES = 3;

/** The recreations one migration has spent, shared by the wait to run and the wait to settle. */
export interface Recreates {
  count: number;
}

/**
 * Waits until the restored pod runs (its containers ready), until the
 * restore deadline. Its process already runs on the target; if only the Pod
 * object went (a delete of the original by name alone can land on a
 * same-name successor created a moment later: kwok does this, a kubelet
 * checks the uid), or another pod took its name, it is created again.
 * A copy the scheduler refuses on its target only for a taint that is about
 * to go (scheduler-refusal.ts) is waited for like any copy not yet running.
 */
export async function waitRunning(
  run: Run,
  created: V1Pod,
  create: () => Promise<V1Pod>,
  recreates: Recreates = { count: 0 },
): Promise<V1Pod> {
  const { d } = run;
  let current = created;
  // The target's taints the copy waits on while the scheduler refuses it for them; null when it does not.
  let waitingOn: { target: string; taints: string[] } | null = null;
  const p = await d.metrics.stage('ready', () =>
    waitFor(
      async () => {
        const named = await d.cluster.getPod(run.namespace, current.metadata?.name ?? '');
        // By uid, not by name: under a StatefulSet's (or a bare pod's) name, the pod
        // found may be one its controller started afresh after our copy went, and
        // reporting that as restored would hide a lost state.
        const uid = current.metadata?.uid;
        const p = named && (!uid || named.metadata?.uid === uid) ? named : null;
        if (!p && recreates.count < MAX_RECREATES) {
          recreates.count++;
          run.log.warn(
            {
              restoredPod: current.metadata?.name,
              recreated: recreates.count,
              replacedBy: named?.metadata?.uid,
            },
            named
              ? 'restored pod replaced by another under its name; creating it again'
              : 'restored pod vanished; creating it again',
          );
          current = await create();
          return null;
        }
        if (!p) return null;
        const refused = await targetRefusal(run, p);
        if (refused && !refused.final) {
          if (!waitingOn)
            run.log.info(
              { restoredPod: p.metadata?.name, target: refused.target, taints: refused.taints },
              "restored pod waits for its target's taint to go before the scheduler places it",
            );
          waitingOn = refused;
          return null;
        }
        waitingOn = null;
        const failed = restoredPodFailure(p);
        // Not retried by polling: a restore that died will not come back before the deadline.
        if (failed) throw new FallBack(refused?.why ? `${failed} (${refused.why})` : failed);
        return isRunning(p) ? p : null;
      },
      run.restoreDeadline,
      run.now,
      run.sleep,
      run.pollMs,
    ),
  );
  if (!p) throw new FallBack(`the restored pod did not become ready in time${waitedFor(waitingOn)}`);
  return p;
}

function waitedFor(w: { target: string; taints: string[] } | null): string {
  if (!w) return '';
  const taints = w.taints.length > 0 ? w.taints.join(', ') : 'a taint already gone';
  return `: the scheduler still refused it on ${w.target}, waiting for its taint to go (${taints})`;
}

/**
 * The scheduler's refusal of the copy (still pending) on its target, judged
 * against the target as it is now; null when it does not refuse it.
 */
async function targetRefusal(run: Run, pod: V1Pod): Promise<(RefusalVerdict & { target: string }) | null> {
  const refusal = schedulerRefusal(pod);
  if (!refusal || (pod.status?.phase ?? 'Pending') !== 'Pending') return null;
  const target = pinnedNode(pod) ?? run.progress.target;
  if (!target) return null;
  const verdict = refusalVerdict({
    message: refusal.message,
    tolerations: pod.spec?.tolerations ?? [],
    node: await run.d.cluster.getNode(target),
    now: run.now(),
  });
  return { ...verdict, target };
}

/**
 * Waits until the restored pod runs and, when it took its original's name
 * (StatefulSet, bare pod), keeps that name for the settle time: only a copy
 * that is still the pod under the name is reported restored. The swap
 * removed the original (and any pod its controller made meanwhile), and
 * what saw those pods go may still send a delete by name, without the uid
 * precondition a kubelet sets: kwok's pod-delete stage, or the StatefulSet,
 * taint-eviction and pod GC controllers acting on their cache. Landing on
 * the copy after it ran, such a delete hands the name to the controller,
 * which starts the pod afresh with none of the restored state. A copy
 * removed like this is created again (its process, or its checkpoint image,
 * is still on the target) and must hold its name for the whole settle time
 * again; a staged copy has a name of its own and nothing to wait for.
 */
export async function waitSettled(run: Run, created: V1Pod, create: () => Promise<V1Pod>): Promise<V1Pod> {
  const recreates: Recreates = { count: 0 };
  let current = await waitRunning(run, created, create, recreates);
  if (isStaged(current)) return current;
  const settleMs = run.d.config.restoredSettleSeconds * 1000;
  // Since when the copy has held its name; null while it is being deleted (the name not yet free).
  let heldSince: number | null = run.now();
  // Only a poll that saw the copy under the name ends the wait: not one that failed.
  let seen = true;
  for (;;) {
    if (seen && heldSince !== null && run.now() - heldSince >= settleMs) return current;
    if (run.now() >= run.restoreDeadline) {
      // Held since it last ran, if not for the whole settle time: as settled as can be checked.
      if (seen && heldSince !== null) return current;
      throw new FallBack('the restored pod was not seen holding its name when the restore deadline passed');
    }
    await run.sleep(run.pollMs);
    const held = await holding(run, current);
    seen = held === 'held';
    if (held === 'held' || held === 'unknown') continue;
    if (held === 'terminating') {
      // Its deletion cannot be undone, and the name is not free until it is gone.
      heldSince = null;
      continue;
    }
    if (recreates.count >= MAX_RECREATES)
      throw new FallBack(
        `the restored pod ${current.metadata?.name} lost its name after it ran, ${recreates.count} times created again already`,
      );
    recreates.count++;
    run.log.warn(
      { restoredPod: current.metadata?.name, recreated: recreates.count, replacedBy: held.other },
      'restored pod removed after it ran (a delete by name meant for the original?); creating it again',
    );
    current = await waitRunning(run, await create(), create, recreates);
    heldSince = run.now();
  }
}

/** Gone, or another pod under the name (`other`, its uid): the copy lost its name. */
export type NameHolding = 'held' | 'terminating' | { other: string | undefined };

/** What the pod now under the copy's name (`named`, null when none) says of the copy with `copyUid`. */
export function nameHolding(named: V1Pod | null, copyUid: string | undefined): NameHolding {
  if (!named) return { other: undefined };
  if (named.metadata?.uid !== copyUid) return { other: named.metadata?.uid };
  if (named.metadata?.deletionTimestamp) return 'terminating';
  return 'held';
}

type Holding = NameHolding | 'unknown';

/** Whether the restored pod still holds its name; throws FallBack when it holds it but has died. */
async function holding(run: Run, copy: V1Pod): Promise<Holding> {
  let named: V1Pod | null;
  try {
    named = await run.d.cluster.getPod(run.namespace, copy.metadata?.name ?? '');
  } catch {
    // A failed poll (an API request timed out) says nothing about the pod.
    return 'unknown';
  }
  const held = nameHolding(named, copy.metadata?.uid);
  if (held !== 'held') return held;
  const failed = restoredPodFailure(named as V1Pod);
  if (failed) throw new FallBack(failed);
  return 'held';
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
  // ports taken) has nowhere else to go. waitRunning waits out a refusal for a taint about to go.
  const scheduled = schedulerRefusal(pod);
  if (scheduled)
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
