import type { V1Pod } from '@kubernetes/client-node';
import type { Cluster } from '../cluster.js';
import { isRunning, isStaged, RESTORED_FROM_LABEL } from '../restored-pod.js';
import { type MigrateResult, type Run, strip } from './context.js';
import { keptByController, returnDeletionCost } from './kept.js';

/** The restored copy of the pod with this uid, if one exists and is not being deleted. */
export async function findRestored(cluster: Cluster, namespace: string, uid: string): Promise<V1Pod | null> {
  const pods = await cluster.listPods(namespace, `${RESTORED_FROM_LABEL}=${uid}`);
  return pods.find((p) => !p.metadata?.deletionTimestamp) ?? null;
}

/** The original pod, if it still exists under its uid. */
export async function currentOriginal(run: Run): Promise<V1Pod | null> {
  const pod = await run.d.cluster.getPod(run.namespace, run.name);
  return pod?.metadata?.uid === run.uid ? pod : null;
}

export type Resumed = { result: MigrateResult } | { original: V1Pod | null; base: V1Pod };

/**
 * Where an earlier attempt left off: finished (a restored copy runs, settled
 * if it took the original's name: only the original's removal may be left),
 * gone, or the original (or the copy of it saved with the job) to carry on from.
 */
export async function resume(run: Run): Promise<Resumed> {
  const { d } = run;
  const original = await currentOriginal(run);
  const restored = await findRestored(d.cluster, run.namespace, run.uid);
  // A copy under the original's name counts once it has held the name (readiness.ts waitSettled):
  // one found before that, its worker gone mid-wait, is taken up by the steps that create it. A
  // migration already falling back has no such steps left: its running copy is kept as it is.
  const settling =
    restored?.metadata?.name === run.name &&
    run.progress.stage !== 'done' &&
    run.progress.fallingBack === undefined;
  if (restored && isRunning(restored) && !isStaged(restored) && !settling) {
    if (original) {
      await run.lease?.assertHeld();
      await d.cluster.deletePod(run.namespace, run.name, run.uid, 0);
    }
    await d.reservations.release(run.holder);
    // A copy that joined its controller under a name of its own, its worker gone before the verdict:
    // it must stay the controller's member for the settle time, as migrate.ts waits.
    const joined = restored.metadata?.name !== run.name && run.progress.stage !== 'done';
    if (joined && !(await keptByController(run, restored)))
      return {
        result: run.finish({
          outcome: 'failed',
          reason: `its controller removed the restored pod ${restored.metadata?.name} once it joined: the pod runs afresh, its state lost`,
        }),
      };
    // As migrate.ts does once the copy is kept; the original as first saved is what its swap ranked against.
    const saved = run.progress.original ?? original;
    if (joined && saved) await returnDeletionCost(run, restored, saved);
    return {
      result: run.finish({
        outcome: 'restored',
        target: restored.spec?.nodeName,
        restoredPod: restored.metadata?.name,
      }),
    };
  }
  const base = original ?? run.progress.original;
  if (!base) return { result: run.finish({ outcome: 'gone', reason: 'the pod no longer exists' }) };
  if (!run.progress.original)
    await run.save({ original: strip(base), stage: run.progress.stage ?? 'started' });
  return { original, base };
}
