import { Queue } from 'bullmq';
import type { JobSigner } from '../common/job-signature.js';
import { jobOptions, QUEUES } from '../common/jobs.js';
import type { Redis } from '../common/redis.js';
import type { PlannedJob } from './plan.js';

export interface JobSink {
  /** Resolves once Redis has acknowledged every job (existing ids are left as they are). */
  enqueue(jobs: readonly PlannedJob[]): Promise<void>;
}

/** BullMQ queues (rescue, evict, finalize), one addBulk per queue per node; every job's data signed. */
export class BullJobSink implements JobSink {
  private readonly queues = new Map<string, Queue>();

  constructor(
    private readonly connection: Redis,
    private readonly prefix: string,
    private readonly signer: JobSigner,
  ) {}

  private queue(name: string): Queue {
    let q = this.queues.get(name);
    if (!q) {
      q = new Queue(name, { connection: this.connection, prefix: this.prefix });
      // Errors surface on the add calls; this only keeps them from being unhandled events.
      q.on('error', () => {});
      this.queues.set(name, q);
    }
    return q;
  }

  async enqueue(jobs: readonly PlannedJob[]): Promise<void> {
    const byQueue = new Map<string, PlannedJob[]>();
    for (const j of jobs) byQueue.set(j.queue, [...(byQueue.get(j.queue) ?? []), j]);
    await Promise.all(
      [...byQueue].map(([name, list]) =>
        this.queue(name).addBulk(
          list.map((j) => ({
            name: j.name,
            data: this.signer.signed({ queue: j.queue, name: j.name, id: j.jobId }, j.data),
            opts: jobOptions(j.queue, j.jobId, j.priority),
          })),
        ),
      ),
    );
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
  }

  static readonly queueNames = [QUEUES.rescue, QUEUES.evict, QUEUES.finalize];
}
