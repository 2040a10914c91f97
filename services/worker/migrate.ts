import type { V1Pod } from '@kubernetes/client-node';
import { archiveDigests, type CheckpointStatus, type RestoreResponse } from '../common/agent-api.js';
import type { MigratePodJob } from '../common/jobs.js';
import { AgentCallError } from './agent-client.js';
import { mibPerSec } from './budget.js';
import { budgetFor, countBudgetDecision } from './migrate/budget.js';
import { cannotCheckpoint } from './migrate/capabilities.js';
import { askForCapacity } from './migrate/capacity.js';
import { checkpoint, observeCheckpoint } from './migrate/checkpoint.js';
import { removeCheckpoint } from './migrate/cleanup.js';
import {
  FallBack,
  type JobHandle,
  type MigrateDeps,
  type MigrateResult,
  type Run,
  startRun,
} from './migrate/context.js';
import { showDemand, withdrawDemand } from './migrate/demand.js';
import { evictOriginal, fallBack, lastResort } from './migrate/fallback.js';
import { keptByController, returnDeletionCost } from './migrate/kept.js';
import { LeaseLost, type PodLease } from './migrate/lease.js';
import { place, usable, waitForTarget } from './migrate/placement.js';
import { waitSettled } from './migrate/readiness.js';
import { adopt, creator } from './migrate/replace.js';
import { restoreOnTarget } from './migrate/restore.js';
import { restoreAsRefused } from './migrate/restore-as.js';
import { currentOriginal, findRestored, resume } from './migrate/resume.js';
import { endTakenOver, originalNow, TakenOver } from './migrate/taken-over.js';
import { buildRestoredPod, isStaged, restoredPodName } from './restored-pod.js';
import { foreignImage } from './verified-job.js';

export type { JobHandle, MigrateDeps, MigrateProgress, MigrateResult } from './migrate/context.js';

/**
 * migrate-pod: lease -> resume -> budget -> target -> checkpoint on the
 * source agent -> restore on the target agent -> restored Pod -> running ->
 * original removed. Any step that cannot finish in time, or fails for good,
 * ends in a release (thaw) and an eviction of the original while it still
 * exists. Safe to run again at any point; the job's last attempt never
 * throws, it ends with an outcome (lastResort).
 */
export async function migratePod(
  job: MigratePodJob,
  handle: JobHandle,
  d: MigrateDeps,
): Promise<MigrateResult> {
  const run = startRun(job, handle, d);
  let lease: PodLease | MigrateResult;
  try {
    lease = await takeLease(run);
  } catch (err) {
    // No lease to be had (Redis down): on the last attempt the pod is still released and drained.
    if (!handle.finalAttempt) throw err;
    return lastResort(run, err).catch((e: Error) =>
      run.finish({ outcome: 'failed', reason: `migration failed: ${e.message}` }),
    );
  }
  if (!('assertHeld' in lease)) return lease;
  run.lease = lease;
  try {
    return await migrate(run);
  } catch (err) {
    const done = run.finished();
    if (done) return done;
    if (err instanceof LeaseLost) return duplicate(run, err.message);
    // BullMQ runs the job again from the progress it saved; the lease stays ours (same holder).
    if (!handle.finalAttempt) throw err;
    try {
      return await lastResort(run, err);
    } catch (e) {
      if (e instanceof LeaseLost) return duplicate(run, e.message);
      return run.finish({ outcome: 'failed', reason: `migration failed: ${(e as Error).message}` });
    }
  } finally {
    if (run.finished()) {
      await withdrawDemand(run).catch((err: Error) =>
        run.log.warn({ err: err.message }, 'could not remove the demand placeholder'),
      );
      await lease.release().catch(() => {});
    } else lease.stop();
  }
}

type MigratePlan = Extract<ReturnType<typeof budgetFor>, { action: 'migrate' }>;

/**
 * What the pod's RescueStarted event says. A pod deferred to its agent is
 * out of the worker's budget on the worker's assumed rate, so that estimate
 * is longer than the time left and says nothing of what will happen: the
 * event names who decides, and CheckpointAccepted then gives the agent's.
 */
export function rescueStartedText(run: Pick<Run, 'job' | 'now'>, plan: MigratePlan): string {
  const { job } = run;
  const head = `spot interruption ${job.event.id}: migrating from ${job.node.name}`;
  if (!plan.deferredToAgent)
    return `${head} (checkpoint ~${seconds(plan.estimateMs)} s at ${plan.rate}, deadline ${job.deadline})`;
  const left = Math.max(0, plan.checkpointBy - run.now());
  return (
    `${head} if its agent accepts: the source agent decides with the rate it measured and its queue, ` +
    `since the worker's estimate (~${seconds(plan.estimateMs)} s at ${plan.rate}) exceeds the ${seconds(left)} s ` +
    `left before the cut-off (deadline ${job.deadline})`
  );
}

function acceptedText(run: Pick<Run, 'job' | 'now'>, status: CheckpointStatus): string {
  const by = status.estimatedStoredAt;
  const rate = status.throughput
    ? ` at ${mibPerSec(status.throughput.bytesPerSec)} MiB/s ${status.throughput.basis}`
    : '';
  return by
    ? `${run.job.node.name}'s agent accepted the checkpoint: stored by ~${by} (in ~${seconds(Math.max(0, Date.parse(by) - run.now()))} s${rate})`
    : `${run.job.node.name}'s agent accepted the checkpoint${rate}`;
}

function seconds(ms: number): number {
  return Math.round(ms / 100) / 10;
}

function duplicate(run: Run, reason: string): MigrateResult {
  return run.finish({ outcome: 'duplicate', reason });
}

/**
 * The pod's lease, or the outcome of a job that found another migrating the
 * same pod: it waits for that one to end, touching nothing, and ends as
 * `duplicate` if the pod was handled (removed, being drained or restored);
 * if the other ended and left the original as it was, this job migrates it.
 */
async function takeLease(run: Run): Promise<PodLease | MigrateResult> {
  let other: string | undefined;
  for (;;) {
    const r = await run.d.leases.acquire(run.uid, run.handle.id);
    if ('lease' in r) {
      if (other && (await handledElsewhere(run))) {
        await r.lease.release();
        return duplicate(run, `migrated by ${other}`);
      }
      return r.lease;
    }
    if (other !== r.heldBy) run.log.info({ holder: r.heldBy }, 'another job is migrating this pod; waiting');
    other = r.heldBy;
    if (run.now() >= run.restoreDeadline) return duplicate(run, `${other} was still migrating the pod`);
    await run.sleep(run.pollMs * 2);
  }
}

async function handledElsewhere(run: Run): Promise<boolean> {
  const original = await currentOriginal(run);
  if (!original || original.metadata?.deletionTimestamp) return true;
  return (await findRestored(run.d.cluster, run.namespace, run.uid)) !== null;
}

/** True when the other nodes with an agent all say they cannot restore (false when there are none). */
async function noNodeRestores(run: Run): Promise<boolean> {
  const { d, job } = run;
  const others = (await d.cluster.listNodes())
    .map((n) => n.metadata?.name as string)
    .filter((n) => n && n !== job.node.name);
  const withAgents = [...(await d.agents.withAgents(others))];
  if (withAgents.length === 0) return false;
  return (await d.capabilities.restoreRefusals(withAgents)).size === withAgents.length;
}

/**
 * The target (the one chosen before if still usable, or one waited for,
 * maybe being provisioned) with the pod restored on its agent. A burst
 * reclaims a pool's nodes seconds apart, so the target can be interrupted
 * itself while the restore runs: its copy would be refused by the scheduler
 * (the target is tainted) and drained late, or die with it. A target no
 * longer usable before its copy is created is given up for another while
 * the restore deadline allows, and the restore is done again there.
 */
async function restoreOnUsableTarget(
  run: Run,
  base: V1Pod,
  original: V1Pod | null,
): Promise<{ target: string; restore: RestoreResponse }> {
  const { d } = run;
  for (;;) {
    const chosen = run.progress.target;
    // A copy already created stays where it is (a worker resumed after its create): finishing it is the shorter way.
    if (run.progress.stage === 'created' && chosen && run.progress.restore)
      return { target: chosen, restore: run.progress.restore };
    let target = chosen && (await usable(d, chosen)) ? chosen : null;
    if (!target) {
      await askForCapacity(run, base, true);
      target = await waitForTarget(run, base, run.restoreDeadline, run.pollMs * 4);
      if (!target) throw new FallBack('no node can take the pod');
      // A restore done on the target given up belongs to that node only.
      await run.save({ target, restore: undefined, stage: 'checkpointed' });
      await withdrawDemand(run);
    }
    let restore = run.progress.stage === 'restored' ? run.progress.restore : undefined;
    if (!restore) {
      restore = await restoreOnTarget(run, base, target);
      const images = { repository: d.config.imageRepository, checkpointId: run.checkpointId };
      const foreign = foreignImage(restore, images, run.namespace, restoredPodName(base));
      if (foreign) throw new FallBack(`the target agent's answer: ${foreign}`);
      await run.save({ stage: 'restored', restore });
    }
    if (await usable(d, target)) return { target, restore };
    run.log.warn({ target }, 'the target was interrupted or cordoned while the pod was restored on it');
    await run.event(
      original,
      'Warning',
      'RestoreTargetLost',
      `${target} was interrupted or cordoned while the pod was restored on it: restoring on another node`,
    );
    await d.reservations.release(run.holder);
  }
}

async function migrate(run: Run): Promise<MigrateResult> {
  const { d, job } = run;
  const resumed = await resume(run);
  if ('result' in resumed) return resumed.result;
  const { original, base } = resumed;
  if (run.progress.fallingBack !== undefined) return fallBack(run, run.progress.fallingBack);

  try {
    // 1. Checkpoint (skipped when a previous attempt already stored the archive).
    let manifest = await d.manifests.read(d.config.s3Bucket, run.manifestKey);
    if (!manifest) {
      if (!original)
        return run.finish({ outcome: 'gone', reason: 'the pod disappeared before its checkpoint' });
      // A copy the admission policy would refuse for its ServiceAccount: drained at once, never frozen.
      const notGranted = await restoreAsRefused(run, original);
      if (notGranted) return await evictOriginal(run, notGranted);
      // A node that cannot checkpoint is drained at once: nothing is frozen for a dump that cannot happen.
      const unable = cannotCheckpoint(await d.capabilities.get(job.node.name));
      if (unable) return await evictOriginal(run, unable);
      const plan = budgetFor(run, original);
      countBudgetDecision(run, plan);
      if (plan.action === 'evict') return await evictOriginal(run, `out of budget: ${plan.reason}`);
      await run.event(original, 'Normal', 'RescueStarted', rescueStartedText(run, plan));
      // Look for a target before dumping so capacity can be provisioned while the checkpoint runs.
      const early = await d.metrics.stage('placement', () => place(run, original));
      if (early) await run.save({ target: early });
      else if (d.config.provisionMode === 'none' && (await noNodeRestores(run))) {
        // Nothing will be provisioned and every other node's agent says it cannot restore: a
        // checkpoint would only freeze the pod until the fallback, so it is drained now.
        return await evictOriginal(run, 'no other node can restore the pod and none is provisioned');
      } else {
        await askForCapacity(run, original);
        if (d.config.provisionMode === 'karpenter') await showDemand(run, original);
      }
      // Read again: the pod read when the job started may be long gone (an API stall, a slow
      // placement), evicted or deleted by someone else and replaced by its controller meanwhile.
      const reread = await originalNow(run);
      if ('takenOver' in reread) return await endTakenOver(run, `${reread.takenOver}, before its checkpoint`);
      try {
        manifest = await checkpoint(run, reread.pod ?? original, plan.checkpointBy, async (accepted) => {
          // RescueStarted could only say the agent decides; this is the estimate that holds now.
          if (plan.deferredToAgent)
            await run.event(original, 'Normal', 'CheckpointAccepted', acceptedText(run, accepted));
        });
      } catch (err) {
        if (err instanceof LeaseLost) throw err;
        // The agent's refusal is a decision, with its figures, not a failure.
        const refused = err instanceof AgentCallError && err.code === 'would-miss-deadline';
        return await fallBack(run, refused ? err.message : `checkpoint failed: ${(err as Error).message}`);
      }
      const margin = observeCheckpoint(run, manifest);
      await run.event(
        original,
        'Normal',
        'Checkpointed',
        `checkpoint ${run.checkpointId} stored in s3://${d.config.s3Bucket}/${run.prefix} with ${Math.round(margin)} s to spare`,
      );
    }
    const stage = run.progress.stage;
    await run.save({
      stage: stage === 'started' || !stage ? 'checkpointed' : stage,
      // Only when the source's answer was lost (a worker killed during the call, a 409 on the
      // retry): the stored manifest's digests are then the best there are.
      ...(run.progress.archives ? {} : { archives: archiveDigests(manifest) }),
    });

    // 2-3. A target and the restore on it (once: the response is saved).
    const { target, restore } = await restoreOnUsableTarget(run, base, original);

    // 4. The restored Pod, replacing the original without its controller noticing a gap.
    const desired = buildRestoredPod({
      original: base,
      targetNode: target,
      checkpointId: run.checkpointId,
      restore,
    });
    const create = creator(run, base, desired);
    let created = await d.metrics.stage('create', create);
    await run.save({ stage: 'created' });
    await d.reservations.release(run.holder);
    run.log.info({ restoredPod: created.metadata?.name, target }, 'restored pod created');

    created = await waitSettled(run, created, create);
    const staged = isStaged(created);
    created = await adopt(run, base, created);
    if (staged && !(await keptByController(run, created)))
      return run.finish({
        outcome: 'failed',
        reason:
          `its controller removed the restored pod ${created.metadata?.name} once it joined (a replacement ` +
          'it had started already, or one it ranked above the copy, was kept): the pod runs afresh, its state lost',
      });
    // Kept through the settle time: the cost that ranked the copy above a fresh pod has done its job.
    if (staged) await returnDeletionCost(run, created, run.progress.original ?? base);
    await run.event(
      created,
      'Normal',
      'Restored',
      `restored from ${run.namespace}/${run.name} (${run.uid}) on ${job.node.name} via checkpoint ${run.checkpointId}`,
    );
    await run.save({ stage: 'done' });
    await removeCheckpoint(run, manifest);
    return run.finish({ outcome: 'restored', target, restoredPod: created.metadata?.name }, manifest);
  } catch (err) {
    if (err instanceof LeaseLost) throw err;
    if (err instanceof TakenOver) return await endTakenOver(run, err.message);
    if (err instanceof FallBack) return await fallBack(run, err.message);
    // An agent's answer is final; anything else (an API 5xx, a timeout, Redis) may pass, and
    // the next attempt carries on from the saved progress: falling back here would undo work
    // already done, such as a Job's original deleted just before its copy's adoption.
    if (!(err instanceof AgentCallError) && !run.handle.finalAttempt) throw err;
    return await fallBack(run, `migration failed: ${(err as Error).message}`);
  }
}
