import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
} from '@aws-sdk/client-s3';
import {
  NodeUplinks,
  nodeOfArchivePath,
  startUplinkProxy,
  type UplinkProxy,
} from '../../../bench/window-uplink.js';
import { createAgentS3Client } from '../../../services/agent/agent-s3-client.js';
import { S3ArchiveStore } from '../../../services/agent/archive-store.js';
import { createS3Client } from '../../../services/common/aws.js';
import { awsSettings, uniqueName } from '../../support/stack.js';

/**
 * bench:window's uplink proxy in front of moto: the agent's own S3 client
 * and multipart upload go through it unchanged, and each node's request
 * bodies are booked on that node's uplink alone.
 */
describe('window benchmark: the uplink proxy in front of moto', () => {
  const s3 = createS3Client(awsSettings());
  const bucket = uniqueName('uplink');
  const uplinks = new NodeUplinks(64 * 2 ** 20);
  const pods = new Map([['p-0-0', 'node-a']]);
  let proxy: UplinkProxy;

  before(async () => {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    proxy = await startUplinkProxy({
      target: awsSettings().awsEndpoint,
      uplinks,
      nodeOf: (path) => nodeOfArchivePath(pods, path),
    });
  });
  after(async () => {
    await proxy.close();
    for (const Key of ['c/ns/p-0-0/uid/ck/app.tar.zst', 'c/ns/other/uid/ck/app.tar.zst'])
      await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key })).catch(() => {});
    await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
  });

  test("a node's multipart upload arrives whole and is counted on its uplink; another pod's is not", async () => {
    const agentS3 = createAgentS3Client({
      ...awsSettings(),
      awsEndpoint: proxy.url,
      requestTimeoutSeconds: 30,
    });
    const store = new S3ArchiveStore(agentS3, { partSizeBytes: 5 * 2 ** 20, queueSize: 2, sse: 'none' });
    const body = randomBytes(12 * 2 ** 20);
    const key = 'c/ns/p-0-0/uid/ck/app.tar.zst';
    await store.upload(bucket, key, Readable.from([body]), new AbortController().signal);
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const bytes = Buffer.from(
      await (got.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
    );
    assert.equal(
      createHash('sha256').update(bytes).digest('hex'),
      createHash('sha256').update(body).digest('hex'),
    );
    // Every part's body went through node-a's uplink, and the upload's completion (a few hundred bytes of XML).
    const sent = uplinks.sent.get('node-a') ?? 0;
    assert.ok(
      sent >= body.length && sent < body.length + 4096,
      `node-a sent ${sent} bytes for ${body.length}`,
    );

    await store.upload(
      bucket,
      'c/ns/other/uid/ck/app.tar.zst',
      Readable.from([randomBytes(1024)]),
      new AbortController().signal,
    );
    assert.deepEqual([...uplinks.sent.keys()], ['node-a']);
    assert.equal(uplinks.sent.get('node-a'), sent);
  });
});
