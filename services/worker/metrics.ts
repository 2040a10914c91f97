import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { exportAtZero, type StageDurations, stageDurations } from '../common/metrics.js';
import { POD_OUTCOMES } from '../common/outcomes.js';
import { BUDGET_RATE_SOURCES } from './budget.js';

/** What the worker reports to Prometheus. */
export class WorkerMetrics {
  readonly outcomes: Counter<'outcome' | 'job_name'>;
  readonly stageSeconds: StageDurations;
  readonly uploadMarginSeconds: Histogram;
  readonly provisioningSeconds: Histogram<'mode' | 'result'>;
  readonly throughput: Gauge;
  readonly nodeOutcomes: Counter<'outcome'>;
  readonly refusedJobs: Counter<'queue' | 'reason'>;
  readonly checkpointDeletions: Counter<'result'>;
  readonly budgetDecisions: Counter<'rate_source' | 'decision'>;

  constructor(registry: Registry) {
    this.outcomes = new Counter({
      name: 'spot_rescue_worker_pod_outcomes_total',
      // Not `job`: Prometheus owns that label (the scrape job) and would rename ours.
      help: `Pods handled, by outcome (${POD_OUTCOMES.join(', ')}) and BullMQ job name`,
      labelNames: ['outcome', 'job_name'],
      registers: [registry],
    });
    this.stageSeconds = stageDurations(
      registry,
      'worker',
      [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 40, 60, 90, 120, 300],
    );
    this.uploadMarginSeconds = new Histogram({
      name: 'spot_rescue_worker_upload_margin_seconds',
      help: 'Time left before the instance deadline when the checkpoint upload completed (negative: too late)',
      buckets: [-10, 0, 5, 10, 20, 30, 45, 60, 90, 120],
      registers: [registry],
    });
    this.provisioningSeconds = new Histogram({
      name: 'spot_rescue_worker_provisioning_seconds',
      help: 'From provisioning request to the new node Ready',
      labelNames: ['mode', 'result'],
      buckets: [1, 5, 10, 20, 30, 45, 60, 90, 120, 180, 300],
      registers: [registry],
    });
    this.throughput = new Gauge({
      name: 'spot_rescue_worker_checkpoint_throughput_bytes_per_second',
      help: 'Running estimate of checkpoint+upload throughput used by the budget',
      registers: [registry],
    });
    this.nodeOutcomes = new Counter({
      name: 'spot_rescue_worker_node_outcomes_total',
      help: 'Interrupted nodes finalized, by outcome (all-rescued, some-evicted, incomplete)',
      labelNames: ['outcome'],
      registers: [registry],
    });
    this.refusedJobs = new Counter({
      name: 'spot_rescue_worker_refused_jobs_total',
      help: 'Jobs the worker would not run (bad signature, forged progress, pod not opted in, foreign image), by queue and reason',
      labelNames: ['queue', 'reason'],
      registers: [registry],
    });
    this.checkpointDeletions = new Counter({
      name: 'spot_rescue_worker_checkpoint_deletions_total',
      help: 'Checkpoints (archives and manifest) deleted from S3 after their restore, by result (deleted, failed)',
      labelNames: ['result'],
      registers: [registry],
    });
    this.budgetDecisions = new Counter({
      name: 'spot_rescue_worker_budget_decisions_total',
      help:
        "Pods' budget decisions (checkpoint or drain) by the rate they used: measured by the node's agent, " +
        "the worker's assumption, or deferred (out of budget on the assumption, so the agent was asked)",
      labelNames: ['rate_source', 'decision'],
      registers: [registry],
    });
    exportAtZero(
      this.budgetDecisions,
      // A deferred pod is never drained by the worker's budget: the agent's answer decides.
      BUDGET_RATE_SOURCES.flatMap((rate_source: string) =>
        (rate_source === 'deferred' ? ['checkpoint'] : ['checkpoint', 'drain']).map((decision) => ({
          rate_source,
          decision,
        })),
      ),
    );
    exportAtZero(this.outcomes, [
      ...POD_OUTCOMES.map((outcome) => ({
        outcome,
        job_name: 'migrate-pod',
      })),
      ...(['evicted', 'gone'] as const).map((outcome) => ({ outcome, job_name: 'evict-pod' })),
    ]);
    exportAtZero(
      this.nodeOutcomes,
      ['all-rescued', 'some-evicted', 'incomplete'].map((outcome) => ({ outcome })),
    );
  }

  /** Times `fn` as one stage. */
  async stage<T>(stage: string, fn: () => Promise<T>): Promise<T> {
    const end = this.stageSeconds.startTimer({ stage });
    try {
      return await fn();
    } finally {
      end();
    }
  }
}
