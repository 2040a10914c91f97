import { DeleteObjectCommand, GetObjectCommand, NoSuchKey, type S3Client } from '@aws-sdk/client-s3';
import { type Manifest, manifestSchema } from '../common/agent-api.js';

/** A manifest is a few KiB: a larger object at its key is not read. */
const MAX_MANIFEST_BYTES = 4 * 2 ** 20;

/** Reads the manifest.json an agent stored beside the archives, and removes a checkpoint's objects. */
export interface ManifestStore {
  read(bucket: string, key: string): Promise<Manifest | null>;
  /** Deletes the objects; rejects with the first failure once every delete was tried. */
  remove(bucket: string, keys: string[]): Promise<void>;
}

export class S3ManifestStore implements ManifestStore {
  constructor(private readonly s3: S3Client) {}

  async read(bucket: string, key: string): Promise<Manifest | null> {
    try {
      const out = await this.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      if ((out.ContentLength ?? 0) > MAX_MANIFEST_BYTES) {
        await out.Body?.transformToString().catch(() => {});
        throw new Error(`s3://${bucket}/${key} is ${out.ContentLength} bytes, too large for a manifest`);
      }
      const text = (await out.Body?.transformToString('utf8')) ?? '';
      return manifestSchema.parse(JSON.parse(text));
    } catch (err) {
      if (err instanceof NoSuchKey || (err as { name?: string }).name === 'NoSuchKey') return null;
      throw err;
    }
  }

  async remove(bucket: string, keys: string[]): Promise<void> {
    const results = await Promise.allSettled(
      keys.map((key) => this.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }))),
    );
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  }
}
