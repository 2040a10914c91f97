import { archiveDigests, type Manifest } from '../../common/agent-api.js';
import type { Run } from './context.js';

/**
 * Once the restored pod runs, its checkpoint (process memory, so secrets)
 * has no further use: the archives and the manifest are deleted. Only keys
 * under this checkpoint's own prefix, whatever an agent answered. A failed
 * delete never fails the migration, but it is logged and counted (the
 * bucket's lifecycle rule is then what removes it).
 */
export async function removeCheckpoint(run: Run, manifest: Manifest): Promise<void> {
  const { d } = run;
  const archives = (run.progress.archives ?? archiveDigests(manifest)).map((a) => a.key);
  const keys = [...new Set([...archives, run.manifestKey])].filter((k) => k.startsWith(`${run.prefix}/`));
  try {
    await d.manifests.remove(d.config.s3Bucket, keys);
    d.metrics.checkpointDeletions.inc({ result: 'deleted' });
  } catch (err) {
    d.metrics.checkpointDeletions.inc({ result: 'failed' });
    run.log.warn(
      { err: (err as Error).message, bucket: d.config.s3Bucket, keys },
      'could not delete the checkpoint after its restore',
    );
  }
}
