import type { V1Pod } from '@kubernetes/client-node';
import type { CheckpointStatus, Manifest } from '../../common/agent-api.js';
import { manifestThroughput } from '../budget.js';
import { admissionFields, checkpointAdmitted } from './admission.js';
import { askUntilStored } from './checkpoint-attempts.js';
import { type Run, strip } from './context.js';

/**
 * Asks the source agent to checkpoint the pod's containers to S3 before
 * `checkpointBy`, then reads the manifest it stored (the agent's answer is
 * not trusted on its own). Throws when there is no manifest; the caller
 * falls back.
 */
export async function checkpoint(
  run: Run,
  original: V1Pod,
  checkpointBy: number,
  onAccepted?: (status: CheckpointStatus) => Promise<void>,
): Promise<Manifest> {
  const { d, job } = run;
  const credentials = await d.archiveAccess?.credentialsFor({
    operation: 'checkpoint',
    node: job.node.name,
    bucket: d.config.s3Bucket,
    prefix: run.prefix,
    until: checkpointBy,
  });
  // Saved before the call: from here on, whatever ends the job releases (thaws) the original.
  await run.save({ checkpointRequested: true });
  const t0 = run.now();
  const answer = await d.metrics.stage('checkpoint', () =>
    // The admitted flow bounds its own calls (the agent's estimate, the cut-off); no signal is needed.
    askUntilStored(run, original, checkpointBy, () =>
      checkpointAdmitted(
        run,
        {
          namespace: run.namespace,
          pod: run.name,
          podUid: run.uid,
          containers: (original.spec?.containers ?? []).map((c) => c.name),
          checkpointId: run.checkpointId,
          deadline: new Date(checkpointBy).toISOString(),
          s3: { bucket: d.config.s3Bucket, prefix: run.prefix },
          podSpec: strip(original),
          eventId: job.event.id,
          ...(credentials ? { credentials } : {}),
          ...admissionFields(run, original),
        },
        checkpointBy,
        onAccepted,
      ),
    ),
  );
  const manifest = await d.manifests.read(d.config.s3Bucket, run.manifestKey);
  if (!manifest) throw new Error(`agent answered but ${run.manifestKey} is not in s3://${d.config.s3Bucket}`);
  // What the source agent itself answered is what the target verifies against, not what S3 holds now.
  if (answer) await run.save({ archives: answer });
  run.log.info({ ms: run.now() - t0, checkpointId: run.checkpointId }, 'checkpointed');
  return manifest;
}

/** Feeds a stored checkpoint's timings to the metrics and the throughput estimate the budget uses. */
export function observeCheckpoint(run: Run, manifest: Manifest): number {
  const { d } = run;
  const margin = (run.deadline - Date.parse(manifest.completedAt)) / 1000;
  d.metrics.uploadMarginSeconds.observe(margin);
  for (const c of manifest.containers) {
    d.metrics.stageSeconds.observe({ stage: 'dump' }, c.timings.checkpointMs / 1000);
    d.metrics.stageSeconds.observe({ stage: 'upload' }, c.timings.uploadMs / 1000);
  }
  d.throughput.observe(manifestThroughput(manifest, d.config.checkpointOverheadMs));
  d.metrics.throughput.set(d.throughput.bytesPerSec);
  return margin;
}
