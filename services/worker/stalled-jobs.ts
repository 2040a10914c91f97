import type { Job } from 'bullmq';
import type { MigratePodJob } from '../common/jobs.js';
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
/** How an abandoned job is read back from Redis and its progress written: verified and signed, as for a live attempt. */
export interface AbandonedJobCodec {
  /** The job's data and saved progress; throws for what cannot be verified. */
  read(job: Job): { data: MigratePodJob; progress: MigrateProgress };
  /** Progress as it is saved on the job. */
  sign(job: Job, p: MigrateProgress): object;
}

export class AbandonedMigrations {
  private readonly running = new Set<Promise<unknown>>();

  constructor(
    private readonly deps: MigrateDeps,
    private readonly log: Logger,
    private readonly codec: AbandonedJobCodec,
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
    let read: ReturnType<AbandonedJobCodec['read']>;
    try {
      read = this.codec.read(job);
    } catch (err) {
      // Nothing trustworthy to find the pod by: it stays in the failed set for an operator.
      this.log.error({ job: job.id, err: (err as Error).message }, 'abandoned migrate-pod job not acted on');
      return undefined;
    }
    const saved = read.progress;
    let progress: MigrateProgress = { ...saved, fallingBack: saved.fallingBack ?? reason };
    this.log.warn(
      { job: job.id, reason, stage: saved.stage },
      'migration abandoned by its workers; draining its pod',
    );
    return migratePod(
      read.data,
      {
        id: job.id ?? job.name,
        finalAttempt: true,
        progress: () => progress,
        saveProgress: async (p) => {
          progress = p;
          // Kept on the failed job for an operator; not needed to carry on.
          await job.updateProgress(this.codec.sign(job, p)).catch(() => {});
        },
      },
      this.deps,
    );
  }
}
