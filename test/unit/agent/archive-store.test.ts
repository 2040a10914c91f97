import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import type { S3Client } from '@aws-sdk/client-s3';
import { JsonTooLarge, MAX_JSON_BYTES, S3ArchiveStore } from '../../../services/agent/archive-store.js';

/**
 * The cap on a JSON document read back from S3 when the response does not
 * say how long it is (ContentLength absent, as with a chunked answer, or
 * understated): the bytes are counted as they come. The stack's S3 always
 * sends the length, so test/integration/agent/archive-bounds.test.ts only
 * reaches the check on the header.
 */
describe('archive store: a manifest read back', () => {
  const storeAnswering = (body: Readable, contentLength?: number) =>
    new S3ArchiveStore(
      { send: async () => ({ Body: body, ContentLength: contentLength }) } as unknown as S3Client,
      {
        partSizeBytes: 5 * 2 ** 20,
        queueSize: 1,
        sse: 'none',
      },
    );
  const signal = AbortSignal.timeout(10_000);

  test('past the cap without a length: refused once the bytes read pass it, the rest never read', async () => {
    let pulled = 0;
    const chunk = Buffer.alloc(2 ** 20, 0x20);
    const body = new Readable({
      read() {
        pulled++;
        this.push(pulled <= 64 ? chunk : null);
      },
    });
    await assert.rejects(storeAnswering(body).getJson('b', 'k/manifest.json', signal), JsonTooLarge);
    assert.ok(body.destroyed, 'the download is dropped');
    assert.ok(pulled <= MAX_JSON_BYTES / chunk.length + 2, `read ${pulled} MiB of 64`);
  });

  test('a length understated by the response does not let a larger body through', async () => {
    const big = Buffer.from(`{"pad":"${'x'.repeat(MAX_JSON_BYTES)}"}`);
    await assert.rejects(storeAnswering(Readable.from([big]), 10).getJson('b', 'k', signal), JsonTooLarge);
  });

  test('a manifest within the cap is parsed', async () => {
    const body = Readable.from([Buffer.from('{"version":'), Buffer.from('1}')]);
    assert.deepEqual(await storeAnswering(body).getJson('b', 'k', signal), { version: 1 });
  });
});
