import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
} from '@aws-sdk/client-s3';
import { S3ArchiveStore } from '../../../services/agent/archive-store.js';
import { streamArchiveToStore } from '../../../services/agent/checkpoint-pipeline.js';
import { processOutput } from '../../../services/agent/process.js';
import type { ArchiveInput, CheckpointedContainer } from '../../../services/agent/runtimes/runtime.js';
import { createS3Client } from '../../../services/common/aws.js';
import { awsSettings, uniqueName } from '../../support/stack.js';

/**
 * The checkpoint pipeline's direct path against moto: the archive goes from
 * its producer process straight into zstd, and only compressed bytes pass
 * through the agent. A producer that fails half-way must not pass for a
 * complete archive, even though zstd then sees a clean end of input.
 */
describe('checkpoint pipeline: producer process straight into zstd', () => {
  const s3 = createS3Client(awsSettings());
  const bucket = uniqueName('pipe');
  const store = new S3ArchiveStore(s3, { partSizeBytes: 5 * 2 ** 20, queueSize: 2, sse: 'none' });
  const zstd = { bin: process.env['SPOT_RESCUE_ZSTD'] ?? 'zstd', level: 1, threads: 0 };
  let dir = '';

  const container = (input: () => ArchiveInput): CheckpointedContainer => ({
    input,
    commit: async () => {},
    rollback: async () => {},
  });
  const objects = async () =>
    ((await s3.send(new ListObjectsV2Command({ Bucket: bucket }))).Contents ?? []).map((o) => o.Key);
  const openUploads = async () =>
    (await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket }))).Uploads ?? [];

  before(async () => {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    dir = await mkdtemp(join(tmpdir(), 'pipe-'));
    // 12 MiB of compressible but varied data, so the upload takes several parts.
    const block = Buffer.alloc(2 ** 20);
    for (let i = 0; i < 12; i++) {
      for (let j = 0; j < block.length; j += 4) block.writeUInt32LE((i * block.length + j) ^ 0x5ca1ab1e, j);
      await writeFile(join(dir, `part-${i}`), block);
    }
  });

  after(async () => {
    for (const key of await objects()) await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
    await rm(dir, { recursive: true, force: true });
    s3.destroy();
  });

  test('uploads the archive tar wrote, with its exact size and the sha256 of what is stored', async () => {
    const expected = execFileSync('tar', ['-C', dir, '-cf', '-', '.'], { maxBuffer: 64 << 20 });
    const r = await streamArchiveToStore(
      container(() => {
        const tar = processOutput('tar', ['-C', dir, '--totals', '-cf', '-', '.']);
        return {
          stdin: tar.stdout,
          done: tar.exited.then(() => Number(/Total bytes written: (\d+)/.exec(tar.stderr())?.[1])),
          close: tar.kill,
        };
      }),
      store,
      { bucket, key: 'ok.tar.zst' },
      zstd,
      new AbortController().signal,
    );
    assert.equal(r.bytesRaw, expected.length, 'the size tar reported');
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'ok.tar.zst' }));
    const body = Buffer.from(
      await (got.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
    );
    assert.equal(body.length, r.bytesCompressed);
    assert.equal(createHash('sha256').update(body).digest('hex'), r.sha256);
    const unpacked = execFileSync(zstd.bin, ['-d', '-q', '-c'], { input: body, maxBuffer: 64 << 20 });
    assert.ok(unpacked.equals(expected), 'zstd -d gives back the very archive tar wrote');
  });

  test('a producer that fails half-way leaves no object and no open upload', async () => {
    await assert.rejects(
      streamArchiveToStore(
        container(() => {
          // 8 MiB out, then a failure: zstd sees a clean end of input and exits 0.
          const p = processOutput('sh', ['-c', 'head -c 8388608 /dev/zero; echo disk error >&2; exit 3']);
          return { stdin: p.stdout, done: p.exited.then(() => 0), close: p.kill };
        }),
        store,
        { bucket, key: 'truncated.tar.zst' },
        zstd,
        new AbortController().signal,
      ),
      /exit 3.*disk error/,
    );
    assert.deepEqual(
      (await objects()).filter((k) => k !== 'ok.tar.zst'),
      [],
    );
    assert.deepEqual(await openUploads(), []);
  });
});
