import { createHash } from 'node:crypto';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { archiveKey, buildManifest, manifestKey } from '../../services/agent/archive-layout.js';
import type { ArchiveDigest } from '../../services/common/agent-api.js';
import { uidFor } from './kube-uid.js';

export interface StoredCheckpointInput {
  bucket: string;
  /** Its last segment is the checkpoint id, as in the worker's `<...>/<checkpoint>` prefixes. */
  prefix: string;
  namespace: string;
  /** The compressed archive (`<container>.tar.zst`) as it should lie in S3. */
  archive: Buffer;
  /** What the source claims the archive unpacks to: the bound a restore holds it to. */
  bytesRaw: number;
  container?: string;
}

/**
 * One container's checkpoint in S3 as a source agent on another node would
 * have stored it: the archive, and beside it the manifest the agent's own
 * layout code builds (pod `src`). Plain PUTs, so a test can also overwrite a
 * stored checkpoint the way someone with write access to the bucket would.
 * Answers the digest the source agent would have reported to the worker.
 */
export async function storeCheckpoint(s3: S3Client, c: StoredCheckpointInput): Promise<ArchiveDigest> {
  const container = c.container ?? 'app';
  const checkpointId = c.prefix.split('/').at(-1);
  if (!checkpointId) throw new Error(`prefix ${c.prefix} names no checkpoint`);
  const digest: ArchiveDigest = {
    name: container,
    key: archiveKey(c.prefix, container),
    bytesRaw: c.bytesRaw,
    bytesCompressed: c.archive.length,
    sha256: createHash('sha256').update(c.archive).digest('hex'),
  };
  const now = new Date();
  const manifest = buildManifest({
    request: {
      namespace: c.namespace,
      pod: 'src',
      podUid: uidFor('src'),
      containers: [container],
      checkpointId,
      deadline: now.toISOString(),
      s3: { bucket: c.bucket, prefix: c.prefix },
    },
    cluster: 'it',
    sourceNode: 'elsewhere',
    runtime: 'runc',
    criuVersion: '4.2',
    createdAt: now,
    completedAt: now,
    containers: [{ ...digest, timings: { checkpointMs: 1, uploadMs: 1, totalMs: 2 } }],
  });
  await s3.send(new PutObjectCommand({ Bucket: c.bucket, Key: digest.key, Body: c.archive }));
  await s3.send(
    new PutObjectCommand({ Bucket: c.bucket, Key: manifestKey(c.prefix), Body: JSON.stringify(manifest) }),
  );
  return digest;
}
