import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { S3ArchiveStore } from '../../../services/agent/archive-store.js';
import type { ArchiveDigest } from '../../../services/common/agent-api.js';
import {
  AgentBed,
  type AgentProcess,
  type CallResult,
  call,
  type Identities,
} from '../../support/agent-bed.js';
import { stackEnv } from '../../support/stack.js';
import { storeCheckpoint } from '../../support/stored-checkpoint.js';

/**
 * What a restore trusts and how much it takes, against a real agent (runc
 * runtime) and the stack's S3 (moto): the digests the worker sends, not the
 * manifest beside the archive; no more unpacked bytes than the source
 * reported; no manifest of megabytes; no archive past the node's cap; and no
 * upload over an existing object.
 */
describe('agent: archive trust and bounds', () => {
  const bed = new AgentBed();
  const s3 = bed.s3;
  const capBytes = 256 * 2 ** 20;
  let ids: Identities;
  let bucket: string;
  let agent: AgentProcess;

  before(async () => {
    await bed.setUp();
    ({ ids, bucket } = bed);
    agent = await bed.startAgent('it-bounds', { SPOT_RESCUE_AGENT_MAX_ARCHIVE_BYTES: String(capBytes) });
  });

  after(() => bed.close());

  const put = (key: string, body: Buffer | string) =>
    s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  const stored = (prefix: string, archive: Buffer, bytesRaw: number) =>
    storeCheckpoint(s3, { bucket, prefix, namespace: ids.namespace, archive, bytesRaw });

  const restore = (
    prefix: string,
    archives: ArchiveDigest[],
    pod: string,
  ): Promise<CallResult<Record<string, unknown>>> =>
    call(agent, 'POST', '/v1/restores', ids.workerToken, {
      manifest: { bucket, key: `${prefix}/manifest.json` },
      archives,
      target: { namespace: ids.namespace, pod },
    });

  async function restoresLeft(): Promise<string[]> {
    return readdir(join(stackEnv().stateDir, 'nodes', agent.node, 'work', 'restores')).catch(() => []);
  }

  test('an archive replaced together with a matching manifest is refused: the worker’s digest decides', async () => {
    const prefix = `it/${randomUUID().slice(0, 8)}/ck-swap`;
    const genuine = Buffer.from('the archive the source agent uploaded');
    const sent = await stored(prefix, genuine, 4096);
    // Another node with write access swaps both: the manifest now agrees with the new archive.
    await stored(prefix, Buffer.from('an archive someone else wrote'), 4096);

    const r = await restore(prefix, [sent], 'swap-restored');
    assert.equal(r.status, 422, JSON.stringify(r.body));
    assert.equal(r.body['error'], 'integrity-mismatch');
    assert.match(String(r.body['message']), new RegExp(`says ${sent.sha256}`));
  });

  test('a restore without the worker’s digests is refused before S3 is read', async () => {
    const r = await call(agent, 'POST', '/v1/restores', ids.workerToken, {
      manifest: { bucket, key: 'it/none/manifest.json' },
      target: { namespace: ids.namespace, pod: 'nodigest' },
    });
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.match(String(r.body['message']), /archives/);
  });

  test('a zstd bomb stops at the size its source reported and leaves nothing behind', async () => {
    const prefix = `it/${randomUUID().slice(0, 8)}/ck-bomb`;
    // 64 MiB of zeros in a tar, a few KiB compressed; the source claims 1 MiB unpacked.
    const bomb = execFileSync(
      'bash',
      [
        '-c',
        'set -o pipefail; d=$(mktemp -d); truncate -s 64M "$d/pages-1.img"; tar -C "$d" -cf - pages-1.img | zstd -q -c; rm -rf "$d"',
      ],
      { maxBuffer: 64 * 2 ** 20 },
    );
    assert.ok(bomb.length < 2 ** 20, `the bomb is small (${bomb.length} bytes)`);
    const digest = await stored(prefix, bomb, 2 ** 20);
    const before = await restoresLeft();

    const r = await restore(prefix, [digest], 'bomb-restored');
    assert.equal(r.status, 422, JSON.stringify(r.body));
    assert.equal(r.body['error'], 'integrity-mismatch');
    assert.match(String(r.body['message']), /decompresses past the 1048576 bytes its source reported/);
    assert.deepEqual(await restoresLeft(), before, 'nothing unpacked is left');
  });

  test('a manifest of megabytes is not read, and an archive past the node’s cap is not downloaded', async () => {
    const big = `it/${randomUUID().slice(0, 8)}/ck-big`;
    await put(`${big}/manifest.json`, `{"pad":"${'x'.repeat(5 * 2 ** 20)}"}`);
    const huge = await restore(
      big,
      [{ name: 'app', key: `${big}/app.tar.zst`, bytesRaw: 1, bytesCompressed: 1, sha256: '0'.repeat(64) }],
      'big-restored',
    );
    assert.equal(huge.status, 400, JSON.stringify(huge.body));
    assert.match(String(huge.body['message']), /larger than 4194304 bytes: not read/);

    const capped = `it/${randomUUID().slice(0, 8)}/ck-cap`;
    const digest = await stored(capped, Buffer.from('small'), 1024);
    // The worker's digest says the archive unpacks past the cap: refused before its download.
    const r = await restore(capped, [{ ...digest, bytesRaw: capBytes + 1 }], 'cap-restored');
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.match(String(r.body['message']), new RegExp(`past this node's cap of ${capBytes}`));
  });

  test('uploads never replace an existing object, single PUT or multipart', async () => {
    const store = new S3ArchiveStore(s3, { partSizeBytes: 5 * 2 ** 20, queueSize: 2, sse: 'none' });
    const signal = AbortSignal.timeout(60_000);
    const key = `it/${randomUUID().slice(0, 8)}`;
    await store.putJson(bucket, `${key}/manifest.json`, { first: true }, signal);
    await assert.rejects(
      store.putJson(bucket, `${key}/manifest.json`, { second: true }, signal),
      (e: Error) => /PreconditionFailed|412/.test(`${e.name} ${e.message}`),
    );
    assert.deepEqual(await store.getJson(bucket, `${key}/manifest.json`, signal), { first: true });

    const twelveMiB = () => Readable.from([Buffer.alloc(6 * 2 ** 20, 1), Buffer.alloc(6 * 2 ** 20, 2)]);
    await store.upload(bucket, `${key}/app.tar.zst`, twelveMiB(), signal);
    await assert.rejects(store.upload(bucket, `${key}/app.tar.zst`, twelveMiB(), signal), (e: Error) =>
      /PreconditionFailed|412/.test(`${e.name} ${e.message}`),
    );
  });
});
