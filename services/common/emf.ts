import { z } from 'zod';
import { setting } from './config.js';
import { EVENT_KINDS } from './events.js';
import { RESCUE_OUTCOMES } from './outcomes.js';

/**
 * CloudWatch embedded metric format (EMF) for rescue outcomes: one JSON line
 * per finished rescue that CloudWatch Logs turns into metrics, so the
 * Terraform module's alarms (failed rescues) have something to alarm on
 * without a Prometheus in the loop. Formatting is pure; where the line goes
 * (stdout, picked up by the log shipper, or the CloudWatch agent's EMF
 * endpoint) is the caller's business.
 *
 * Spec: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
 */

/**
 * Metric names, in one place: terraform/main.tf alarms on `RescuesFailed`.
 * Each is the CloudWatch twin of a Prometheus series, so both sides tell the
 * same story: Rescues/RescuesFailed = spot_rescue_worker_pod_outcomes_total
 * (by outcome), CheckpointDuration/UploadDuration =
 * spot_rescue_stage_duration_seconds{component="worker",stage="dump"|"upload"};
 * like the Prometheus side, no dimension is named after a service.
 */
export const EMF_METRICS = {
  rescues: 'Rescues',
  rescuesFailed: 'RescuesFailed',
  rescueDuration: 'RescueDuration',
  checkpointDuration: 'CheckpointDuration',
  uploadDuration: 'UploadDuration',
  archiveBytes: 'ArchiveBytes',
} as const;

export const rescueOutcomeSchema = z.object({
  cluster: z.string().min(1),
  outcome: z.enum(RESCUE_OUTCOMES),
  eventKind: z.enum(EVENT_KINDS),
  namespace: z.string().min(1),
  pod: z.string().min(1),
  /** When the rescue finished, in epoch milliseconds. */
  finishedAt: z.number().int().nonnegative(),
  /** From the event's receipt to the outcome. */
  durationMs: z.number().nonnegative(),
  checkpointMs: z.number().nonnegative().optional(),
  uploadMs: z.number().nonnegative().optional(),
  /** Compressed archive bytes uploaded, all containers together. */
  archiveBytes: z.number().int().nonnegative().optional(),
  /** Why it was evicted or failed; a log property, never a dimension (unbounded). */
  reason: z.string().optional(),
  eventId: z.string().optional(),
});
export type RescueOutcome = z.infer<typeof rescueOutcomeSchema>;

export const emfSettings = {
  emfOutput: setting(
    'SPOT_RESCUE_EMF_OUTPUT',
    z.enum(['off', 'stdout'], { message: 'must be off or stdout' }).default('off'),
    'CloudWatch embedded-metric-format lines for rescue outcomes: off, or stdout (shipped by the CloudWatch agent / Fluent Bit)',
  ),
  emfNamespace: setting(
    'SPOT_RESCUE_EMF_NAMESPACE',
    z
      .string()
      .regex(/^[A-Za-z0-9._/#:-]{1,255}$/, 'must be a CloudWatch namespace (letters, digits, . _ / # : -)')
      .refine((v) => !v.startsWith('AWS/'), 'the AWS/ prefix is reserved for AWS services')
      .default('SpotRescue'),
    'CloudWatch metric namespace of the EMF output',
  ),
};

interface MetricDefinition {
  Name: string;
  Unit: 'Count' | 'Milliseconds' | 'Bytes';
}

/**
 * One EMF line (no trailing newline) for a finished rescue. Dimensions stay
 * low-cardinality (cluster, outcome, event kind); pod and namespace are plain
 * properties so they are searchable in Logs Insights without creating a metric
 * per pod. `RescuesFailed` is 0 on success so the alarm's series has no gaps.
 */
export function rescueOutcomeToEmf(input: RescueOutcome, metricNamespace = 'SpotRescue'): string {
  const o = rescueOutcomeSchema.parse(input);
  const metrics: MetricDefinition[] = [
    { Name: EMF_METRICS.rescues, Unit: 'Count' },
    { Name: EMF_METRICS.rescuesFailed, Unit: 'Count' },
    { Name: EMF_METRICS.rescueDuration, Unit: 'Milliseconds' },
  ];
  const values: Record<string, number> = {
    [EMF_METRICS.rescues]: 1,
    [EMF_METRICS.rescuesFailed]: o.outcome === 'failed' ? 1 : 0,
    [EMF_METRICS.rescueDuration]: o.durationMs,
  };
  if (o.checkpointMs !== undefined) {
    metrics.push({ Name: EMF_METRICS.checkpointDuration, Unit: 'Milliseconds' });
    values[EMF_METRICS.checkpointDuration] = o.checkpointMs;
  }
  if (o.uploadMs !== undefined) {
    metrics.push({ Name: EMF_METRICS.uploadDuration, Unit: 'Milliseconds' });
    values[EMF_METRICS.uploadDuration] = o.uploadMs;
  }
  if (o.archiveBytes !== undefined) {
    metrics.push({ Name: EMF_METRICS.archiveBytes, Unit: 'Bytes' });
    values[EMF_METRICS.archiveBytes] = o.archiveBytes;
  }
  const doc = {
    _aws: {
      Timestamp: o.finishedAt,
      CloudWatchMetrics: [
        {
          Namespace: metricNamespace,
          Dimensions: [['ClusterName'], ['ClusterName', 'Outcome'], ['ClusterName', 'EventKind']],
          Metrics: metrics,
        },
      ],
    },
    ClusterName: o.cluster,
    Outcome: o.outcome,
    EventKind: o.eventKind,
    PodNamespace: o.namespace,
    Pod: o.pod,
    ...(o.reason === undefined ? {} : { Reason: o.reason }),
    ...(o.eventId === undefined ? {} : { EventId: o.eventId }),
    ...values,
  };
  return JSON.stringify(doc);
}

export type EmfConfig = { emfOutput: 'off' | 'stdout'; emfNamespace: string };

/**
 * What the worker calls once per finished rescue: writes the EMF line when the
 * output is on, does nothing when it is off. `write` is the seam for tests.
 */
export function createEmfRecorder(
  config: EmfConfig,
  write: (line: string) => void = (line) => process.stdout.write(line),
): (outcome: RescueOutcome) => void {
  if (config.emfOutput === 'off') return () => {};
  return (outcome) => write(`${rescueOutcomeToEmf(outcome, config.emfNamespace)}\n`);
}
