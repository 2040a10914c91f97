import type { Job } from 'bullmq';
import { migratePodJobSchema } from '../common/jobs.js';
import type { Logger } from '../common/logger.js';
import { type MigrateDeps, type MigrateProgress, type MigrateResult, migratePod } from './migrate.js';

/**
 * How often a migrate-pod job may lose its worker (killed, or its lock not
 * renewed) and be picked up again. Past this BullMQ gives up on the job
 * without running its processor again.
 */
export const MAX_STALLED_COUNT = 3;

/** The failure BullMQ (6.x) gives a job that stalled more than MAX_STALLED_COUNT times. */
export const STALLED_FOR_GOOD = 'job stalled more than allowable limit';

/**
 * Whether a failed migrate-pod job will not run again. BullMQ emits
 * 'failed' for every failed attempt; a job it gave up on carries
 * finishedOn. One that stalled too often is failed by the live worker that
 * next picks it up, with STALLED_FOR_GOOD and without calling the
 * processor: nothing of the migration's own fallback ran for it.
 */
export function endedForGood(job: Pick<Job, 'finishedOn'>, err: Error): boolean {
  return Boolean(job.finishedOn) || err.message.includes(STALLED_FOR_GOOD);
}

/**
 * Finishes migrations whose job BullMQ gave up on (its workers kept dying):
 * the pod still ends running or drained. The migration is resumed from the
 * progress its last worker saved, as its last attempt, already falling back:
 * a restored copy that runs is kept (only the original's removal was left),
 * anything else is released (thawed) on the source agent, a copy that never
 * took over is removed, and the original is drained through the Eviction
 * API as a plain drain would, PDBs honoured until the deadline forces it.
 * The outcome is recorded like any migration's (metric, EMF line).
 */
export class AbandonedMigrations {
  private readonly running = new Set<Promise<unknown>>();

  constructor(
    private readonly deps: MigrateDeps,
    private readonly log: Logger,
  ) {}

  /** The rescue worker's 'failed' listener: never throws, the drain runs in the background. */
  onFailed(job: Job | undefined, err: Error): void {
    if (!job || !endedForGood(job, err)) return;
    const p = this.drain(job, err.message)
      .catch((e: Error) =>
        this.log.error({ job: job.id, err: e.message }, 'could not drain the pod of an abandoned migration'),
      )
      .finally(() => this.running.delete(p));
    this.running.add(p);
  }

  /** Resolves once every drain started so far has ended (the service waits for them when it stops). */
  async settled(): Promise<void> {
    await Promise.all([...this.running]);
  }

  /** Runs the abandoned job's migration to its end as a fallback; undefined for data that is not a migration. */
  async drain(job: Job, reason: string): Promise<MigrateResult | undefined> {
    const parsed = migratePodJobSchema.safeParse(job.data);
    if (!parsed.success) {
      // Nothing to find the pod by: it stays in the failed set for an operator.
      this.log.error({ job: job.id, err: parsed.error.message }, 'failed migrate-pod job with invalid data');
      return undefined;
    }
    const saved = (
      typeof job.progress === 'object' && job.progress !== null ? job.progress : {}
    ) as MigrateProgress;
    let progress: MigrateProgress = { ...saved, fallingBack: saved.fallingBack ?? reason };
    this.log.warn(
      { job: job.id, reason, stage: saved.stage },
      'migration abandoned by its workers; draining its pod',
    );
    return migratePod(
      parsed.data,
      {
        id: job.id ?? job.name,
        finalAttempt: true,
        progress: () => progress,
        saveProgress: async (p) => {
          progress = p;
          // Kept on the failed job for an operator; not needed to carry on.
          await job.updateProgress(p as object).catch(() => {});
        },
      },
      this.deps,
    );
  }
}
