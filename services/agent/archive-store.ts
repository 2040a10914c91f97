import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  PutObjectCommand,
  type PutObjectCommandInput,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';

export interface UploadTuning {
  partSizeBytes: number;
  queueSize: number;
  sse: 'none' | 'aws:kms';
  sseKmsKeyId?: string | undefined;
}

/** The largest JSON document (a manifest) read back from the store. */
export const MAX_JSON_BYTES = 4 * 2 ** 20;

export class JsonTooLarge extends Error {
  constructor(bucket: string, key: string) {
    super(`s3://${bucket}/${key} is larger than ${MAX_JSON_BYTES} bytes: not read`);
    this.name = 'JsonTooLarge';
  }
}

/** Where archives and manifests live. S3 in every deployment; an interface so the pipeline stays testable. */
export interface ArchiveStore {
  /** Streams `body` into the object; on failure or abort no object (and no multipart upload) remains. */
  upload(bucket: string, key: string, body: Readable, signal: AbortSignal): Promise<void>;
  download(bucket: string, key: string, signal: AbortSignal): Promise<Readable>;
  putJson(bucket: string, key: string, value: unknown, signal: AbortSignal): Promise<void>;
  getJson(bucket: string, key: string, signal: AbortSignal): Promise<unknown>;
  remove(bucket: string, key: string): Promise<void>;
}

export class S3ArchiveStore implements ArchiveStore {
  constructor(
    private readonly s3: S3Client,
    private readonly tuning: UploadTuning,
  ) {}

  private encryption(): Partial<PutObjectCommandInput> {
    if (this.tuning.sse === 'none') return {};
    return {
      ServerSideEncryption: 'aws:kms',
      ...(this.tuning.sseKmsKeyId ? { SSEKMSKeyId: this.tuning.sseKmsKeyId } : {}),
    };
  }

  async upload(bucket: string, key: string, body: Readable, signal: AbortSignal): Promise<void> {
    const upload = new Upload({
      client: this.s3,
      // Never over an existing archive (single PUT and the multipart's completion alike).
      params: { Bucket: bucket, Key: key, Body: body, IfNoneMatch: '*', ...this.encryption() },
      partSize: this.tuning.partSizeBytes,
      queueSize: this.tuning.queueSize,
      leavePartsOnError: false,
    });
    const onAbort = () => void upload.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await upload.done();
    } catch (err) {
      // Upload.abort() rejects done() at once while its own clean-up runs in
      // the background; abort the multipart upload here too, and wait for it,
      // so the caller can rely on "failed means nothing left behind".
      if (upload.uploadId) {
        await this.s3
          .send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: upload.uploadId }))
          .catch(() => {});
      }
      body.destroy();
      throw err;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  async download(bucket: string, key: string, signal: AbortSignal): Promise<Readable> {
    const out = await this.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }), {
      abortSignal: signal,
    });
    return out.Body as Readable;
  }

  async putJson(bucket: string, key: string, value: unknown, signal: AbortSignal): Promise<void> {
    await this.s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: JSON.stringify(value, null, 2),
        ContentType: 'application/json',
        IfNoneMatch: '*',
        ...this.encryption(),
      }),
      { abortSignal: signal },
    );
  }

  async getJson(bucket: string, key: string, signal: AbortSignal): Promise<unknown> {
    const out = await this.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }), {
      abortSignal: signal,
    });
    const body = out.Body as Readable;
    // A manifest is a few KiB: one past the cap is not read at all, whatever it claims to be.
    if ((out.ContentLength ?? 0) > MAX_JSON_BYTES) {
      body.destroy();
      throw new JsonTooLarge(bucket, key);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of body) {
      size += (chunk as Buffer).length;
      if (size > MAX_JSON_BYTES) {
        body.destroy();
        throw new JsonTooLarge(bucket, key);
      }
      chunks.push(chunk as Buffer);
    }
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  }

  async remove(bucket: string, key: string): Promise<void> {
    await this.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
  }
}
