import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** What the agent reports to Prometheus: outcomes, stage durations and bytes moved. */
export class AgentMetrics {
  readonly operations: Counter<'operation' | 'outcome'>;
  readonly stageSeconds: Histogram<'stage'>;
  readonly bytes: Counter<'direction' | 'kind'>;
  readonly checkpointSlots: Gauge<'state'>;

  constructor(registry: Registry) {
    this.operations = new Counter({
      name: 'spot_rescue_agent_operations_total',
      help: 'Checkpoints and restores by outcome (ok or the error code)',
      labelNames: ['operation', 'outcome'],
      registers: [registry],
    });
    this.stageSeconds = new Histogram({
      name: 'spot_rescue_agent_stage_seconds',
      help: 'Duration of checkpoint, upload, download and restore stages per container',
      labelNames: ['stage'],
      buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120],
      registers: [registry],
    });
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
  }
}
