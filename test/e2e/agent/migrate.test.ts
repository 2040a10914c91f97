import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { Manifest, RestoreResponse } from '../../../services/common/agent-api.js';
import { archiveDigests } from '../../../services/common/agent-api.js';
import { AgentBed, type AgentProcess, call } from '../../support/agent-bed.js';
import { stackEnv, waitFor } from '../../support/stack.js';

describe('agent: checkpoint on node A, restore on node B, through S3', () => {
  const bed = new AgentBed();
  const { s3 } = bed;
  let a: AgentProcess;
  let b: AgentProcess;

  before(async () => {
    await bed.setUp();
    [a, b] = await Promise.all([bed.startAgent('e2e-a'), bed.startAgent('e2e-b')]);
  });

  after(() => bed.close());

  const startCounter = (agent: AgentProcess, pod: string, mib: number) =>
    bed.startCounter(agent, pod, { container: 'counter', mib, memoryMiB: mib + 128 });

  const status = (agent: AgentProcess, pod: string) => bed.status(agent, pod, 'counter');

  const progressOf = async (agent: AgentProcess, pod: string) =>
    (await bed.progress(agent, pod, 'counter'))?.values;

  function checkpointRequest(pod: string, podUid: string, checkpointId: string) {
    return {
      ...bed.checkpointRequest(pod, podUid, { container: 'counter', checkpointId, deadlineMs: 90_000 }),
      podSpec: { containers: [{ name: 'counter', image: 'spot-rescue/counter' }] },
      eventId: 'e2e-event',
    };
  }

  test('refuses callers without a token, with a bad token, or with another identity', async () => {
    const body = checkpointRequest('nobody', 'uid', 'cp-auth');
    for (const path of ['/v1/checkpoints', '/v1/restores', '/v1/local/containers']) {
      const none = await call(a, 'POST', path, undefined, body);
      assert.equal(none.status, 401, path);
      assert.equal(none.body['error'], 'unauthenticated');
      const garbage = await call(a, 'POST', path, 'not-a-token', body);
      assert.equal(garbage.status, 401, path);
      const stranger = await call(a, 'POST', path, bed.ids.strangerToken, body);
      assert.equal(stranger.status, 403, path);
      assert.equal(stranger.body['error'], 'forbidden');
      assert.match(String(stranger.body['message']), /stranger/);
      const otherAudience = await call(a, 'POST', path, bed.ids.wrongAudienceToken, body);
      assert.equal(otherAudience.status, 401, path);
    }
    // The worker itself gets through to validation.
    const worker = await call(a, 'POST', '/v1/checkpoints', bed.ids.workerToken, { namespace: 'x' });
    assert.equal(worker.status, 400);
    assert.equal(worker.body['error'], 'bad-request');
  });

  test('a 256 MiB counter moves from A to B and carries on where it was', async () => {
    const podUid = await startCounter(a, 'counter', 256);
    await waitFor('the counter to fill its memory and sweep it', async () => {
      const p = await progressOf(a, 'counter');
      return p && p['sweeps']! >= 2 && p['counter']! > 20 ? p : undefined;
    });

    const checkpointId = `cp-${randomUUID().slice(0, 8)}`;
    const res = await call<Manifest>(
      a,
      'POST',
      '/v1/checkpoints',
      bed.ids.workerToken,
      checkpointRequest('counter', podUid, checkpointId),
    );
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const manifest = res.body;
    assert.equal(manifest.runtime, 'runc');
    assert.equal(manifest.sourceNode, a.node);
    assert.match(manifest.criuVersion, /^4\./);
    assert.equal(manifest.eventId, 'e2e-event');
    const archive = manifest.containers[0]!;
    assert.ok(archive.bytesRaw > 256 * 1024 * 1024, `raw archive holds the 256 MiB: ${archive.bytesRaw}`);
    assert.ok(archive.bytesCompressed > 0 && archive.bytesCompressed < archive.bytesRaw);

    // The stored object is what the manifest says, and the manifest sits beside it.
    const head = await s3.send(new HeadObjectCommand({ Bucket: bed.bucket, Key: archive.key }));
    assert.equal(head.ContentLength, archive.bytesCompressed);
    const stored = await s3.send(
      new GetObjectCommand({
        Bucket: bed.bucket,
        Key: `${checkpointRequest('counter', podUid, checkpointId).s3.prefix}/manifest.json`,
      }),
    );
    assert.deepEqual(JSON.parse(await stored.Body!.transformToString()), manifest);

    // The original stopped at the dump: its last published counter is where the copy must continue from.
    const atCheckpoint = await progressOf(a, 'counter');
    assert.ok(atCheckpoint);
    const original = await status(a, 'counter');
    assert.equal(original.body.status, 'checkpointed');
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(await progressOf(a, 'counter'), atCheckpoint, 'the original no longer runs');

    const restoreRequest = {
      archives: archiveDigests(manifest),
      manifest: {
        bucket: bed.bucket,
        key: `${checkpointRequest('counter', podUid, checkpointId).s3.prefix}/manifest.json`,
      },
      target: { namespace: bed.ids.namespace, pod: 'counter-restored' },
    };
    const restored = await call<RestoreResponse>(
      b,
      'POST',
      '/v1/restores',
      bed.ids.workerToken,
      restoreRequest,
    );
    assert.equal(restored.status, 200, JSON.stringify(restored.body));
    bed.track(b, 'counter-restored', 'counter');
    assert.equal(restored.body.node, b.node);
    // A worker killed before it saved the restore asks again: the code tells it the work is done.
    const again = await call(b, 'POST', '/v1/restores', bed.ids.workerToken, restoreRequest);
    assert.equal(again.status, 409, JSON.stringify(again.body));
    assert.equal(again.body['error'], 'already-exists');
    assert.deepEqual(
      restored.body.containers.map((c) => c.name),
      ['counter'],
    );

    const afterRestore = await waitFor(
      'the restored counter to run on past its checkpointed value',
      async () => {
        const p = await progressOf(b, 'counter-restored');
        return p && p['counter']! > atCheckpoint['counter']! + 20 && p['sweeps']! > atCheckpoint['sweeps']!
          ? p
          : undefined;
      },
    );
    assert.equal(afterRestore['corrupt'], 0, 'the 256 MiB pattern survived the move');
    assert.equal(afterRestore['mib'], 256);
    assert.equal((await status(b, 'counter-restored')).body.status, 'running');
    // Still counting, and still verifying the pattern.
    const later = await waitFor('more sweeps', async () => {
      const p = await progressOf(b, 'counter-restored');
      return p && p['sweeps']! > afterRestore['sweeps']! ? p : undefined;
    });
    assert.equal(later['corrupt'], 0);
  });

  test('an archive with one byte flipped in S3 is refused and nothing is restored', async () => {
    const podUid = await startCounter(a, 'tamper', 32);
    await waitFor('the small counter', async () => ((await progressOf(a, 'tamper'))?.['sweeps'] ?? 0) >= 1);
    const checkpointId = `cp-${randomUUID().slice(0, 8)}`;
    const req = checkpointRequest('tamper', podUid, checkpointId);
    const res = await call<Manifest>(a, 'POST', '/v1/checkpoints', bed.ids.workerToken, req);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const key = res.body.containers[0]!.key;

    const got = await s3.send(new GetObjectCommand({ Bucket: bed.bucket, Key: key }));
    const bytes = Buffer.from(await got.Body!.transformToByteArray());
    const at = Math.floor(bytes.length / 2);
    bytes[at] = bytes[at]! ^ 0x01;
    await s3.send(new PutObjectCommand({ Bucket: bed.bucket, Key: key, Body: bytes }));

    const refused = await call(b, 'POST', '/v1/restores', bed.ids.workerToken, {
      archives: archiveDigests(res.body),
      manifest: { bucket: bed.bucket, key: `${req.s3.prefix}/manifest.json` },
      target: { namespace: bed.ids.namespace, pod: 'tamper-restored' },
    });
    assert.equal(refused.status, 422, JSON.stringify(refused.body));
    assert.equal(refused.body['error'], 'integrity-mismatch');
    assert.match(String(refused.body['message']), /sha256/);
    const nothing = await status(b, 'tamper-restored');
    assert.equal(nothing.status, 404, 'no container was restored');
    const restoresDir = join(stackEnv().stateDir, 'nodes', b.node, 'work', 'restores');
    const left = await readdir(restoresDir).catch(() => []);
    assert.deepEqual(
      left.filter((d) => d.includes(checkpointId)),
      [],
      'unpacked files were removed',
    );
  });
});
