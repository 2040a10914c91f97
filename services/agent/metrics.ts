import { Counter, Gauge, type Registry } from 'prom-client';
import type { AgentThroughput } from '../common/agent-api.js';
import { exportAtZero, type StageDurations, stageDurations } from '../common/metrics.js';
import { ADMISSION_DECISIONS } from './checkpoint-admission.js';

/** What the agent reports to Prometheus: outcomes, stage durations and bytes moved. */
export class AgentMetrics {
  readonly operations: Counter<'operation' | 'outcome'>;
  readonly stageSeconds: StageDurations;
  readonly bytes: Counter<'direction' | 'kind'>;
  readonly checkpointSlots: Gauge<'state'>;
  readonly checkpointRate: Gauge<'basis'>;
  readonly admissionDecisions: Counter<'decision'>;

  constructor(registry: Registry) {
    this.operations = new Counter({
      name: 'spot_rescue_agent_operations_total',
      help: 'Checkpoints and restores by outcome (ok or the error code)',
      labelNames: ['operation', 'outcome'],
      registers: [registry],
    });
    // Per container: checkpoint, upload, download, restore.
    this.stageSeconds = stageDurations(registry, 'agent', [0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120]);
    this.bytes = new Counter({
      name: 'spot_rescue_agent_bytes_total',
      help: 'Archive bytes moved, raw (uncompressed) and compressed',
      labelNames: ['direction', 'kind'],
      registers: [registry],
    });
    this.checkpointSlots = new Gauge({
      name: 'spot_rescue_agent_checkpoints',
      help: 'Checkpoints dumping or uploading (active) and waiting for a slot (waiting)',
      labelNames: ['state'],
      registers: [registry],
    });
    this.checkpointRate = new Gauge({
      name: 'spot_rescue_agent_checkpoint_rate_bytes_per_second',
      help: 'Checkpoint throughput this node plans admissions with, by basis (measured on this node, or assumed)',
      labelNames: ['basis'],
      registers: [registry],
    });
    this.admissionDecisions = new Counter({
      name: 'spot_rescue_agent_admission_decisions_total',
      help:
        'Checkpoints judged by the admission plan: accepted (with the margin), accepted-at-risk (at the estimate only), ' +
        'confirmed (at risk, kept through its window), refused, dropped and dropped-at-risk (accepted, then dropped before the dump)',
      labelNames: ['decision'],
      registers: [registry],
    });
    for (const decision of ADMISSION_DECISIONS) this.admissionDecisions.inc({ decision }, 0);
    // Failures are labelled by error code, not known in advance; successes are.
    exportAtZero(this.operations, [
      { operation: 'checkpoint', outcome: 'ok' },
      { operation: 'restore', outcome: 'ok' },
    ]);
  }

  /**
   * One series at a time, under the basis in use: an alarm on
   * basis="assumed" finds the nodes still planning on the configured guess,
   * and one on the measured value finds a node slower than the pods it holds.
   */
  plannedRate(t: AgentThroughput): void {
    this.checkpointRate.set({ basis: t.basis }, t.bytesPerSec);
    this.checkpointRate.remove({ basis: t.basis === 'measured' ? 'assumed' : 'measured' });
  }
}
