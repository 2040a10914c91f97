import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  ListObjectsV2Command,
  type S3Client,
} from '@aws-sdk/client-s3';
import { createS3Client } from '../../services/common/aws.js';
import { awsSettings, uniqueName } from './stack.js';

/** A client of the stack's S3 (moto). */
export function s3Client(): S3Client {
  return createS3Client(awsSettings());
}

/** A bucket of a name no other test run uses. */
export async function createBucket(s3: S3Client, prefix = 'agent-e2e'): Promise<string> {
  const bucket = uniqueName(prefix);
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  return bucket;
}

/** Empties the bucket, a listing page at a time, and deletes it; a bucket already gone is no error. */
export async function deleteBucket(s3: S3Client, bucket: string): Promise<void> {
  for (;;) {
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket })).catch(() => undefined);
    for (const o of listed?.Contents ?? []) {
      await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: o.Key! }));
    }
    if (!listed?.IsTruncated) break;
  }
  await s3.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => {});
}
