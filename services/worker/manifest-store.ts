import { GetObjectCommand, NoSuchKey, type S3Client } from '@aws-sdk/client-s3';
import { type Manifest, manifestSchema } from '../common/agent-api.js';

/** Reads the manifest.json an agent stored beside the archives. */
export interface ManifestStore {
  read(bucket: string, key: string): Promise<Manifest | null>;
}

export class S3ManifestStore implements ManifestStore {
  constructor(private readonly s3: S3Client) {}

  async read(bucket: string, key: string): Promise<Manifest | null> {
    try {
      const out = await this.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      const text = (await out.Body?.transformToString('utf8')) ?? '';
      return manifestSchema.parse(JSON.parse(text));
    } catch (err) {
      if (err instanceof NoSuchKey || (err as { name?: string }).name === 'NoSuchKey') return null;
      throw err;
    }
  }
}
