import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { parseProgress } from '../../../services/agent/local-containers.js';
import type { Manifest, RestoreResponse } from '../../../services/common/agent-api.js';
import { stackEnv, waitFor } from '../../support/stack.js';
import {
  type AgentProcess,
  call,
  createBucket,
  createIdentities,
  deleteBucket,
  type Identities,
  s3Client,
  startAgentProcess,
} from './harness.js';

interface Status {
  status: string;
  progress?: string;
}

describe('agent: checkpoint on node A, restore on node B, through S3', () => {
  const s3 = s3Client();
  let ids: Identities;
  let bucket: string;
  let a: AgentProcess;
  let b: AgentProcess;
  const started: { agent: AgentProcess; pod: string; container: string }[] = [];

  before(async () => {
    ids = await createIdentities();
    bucket = await createBucket(s3);
    const suffix = randomUUID().slice(0, 6);
    [a, b] = await Promise.all([
      startAgentProcess(`e2e-a-${suffix}`, ids.allowedSa),
      startAgentProcess(`e2e-b-${suffix}`, ids.allowedSa),
    ]);
  });

  after(async () => {
    for (const s of started) {
      await call(
        s.agent,
        'DELETE',
        `/v1/local/containers/${ids.namespace}/${s.pod}/${s.container}`,
        ids.workerToken,
      );
    }
    await Promise.all([a?.stop(), b?.stop()]);
    await deleteBucket(s3, bucket);
    await ids.cleanup();
  });

  async function startCounter(agent: AgentProcess, pod: string, mib: number) {
    const podUid = randomUUID();
    const res = await call<Status>(agent, 'POST', '/v1/local/containers', ids.workerToken, {
      namespace: ids.namespace,
      pod,
      podUid,
      container: 'counter',
      args: ['/usr/local/bin/counter', String(mib), '/state/progress'],
      memoryMiB: mib + 128,
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    started.push({ agent, pod, container: 'counter' });
    return podUid;
  }

  function status(agent: AgentProcess, pod: string) {
    return call<Status>(
      agent,
      'GET',
      `/v1/local/containers/${ids.namespace}/${pod}/counter`,
      ids.workerToken,
    );
  }

  async function progressOf(agent: AgentProcess, pod: string) {
    const s = await status(agent, pod);
    return s.body.progress ? parseProgress(s.body.progress) : undefined;
  }

  function checkpointRequest(pod: string, podUid: string, checkpointId: string) {
    return {
      namespace: ids.namespace,
      pod,
      podUid,
      containers: ['counter'],
      checkpointId,
      deadline: new Date(Date.now() + 90_000).toISOString(),
      s3: { bucket, prefix: `local/${ids.namespace}/${pod}/${podUid}/${checkpointId}` },
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
      const stranger = await call(a, 'POST', path, ids.strangerToken, body);
      assert.equal(stranger.status, 403, path);
      assert.equal(stranger.body['error'], 'forbidden');
      assert.match(String(stranger.body['message']), /stranger/);
      const otherAudience = await call(a, 'POST', path, ids.wrongAudienceToken, body);
      assert.equal(otherAudience.status, 401, path);
    }
    // The worker itself gets through to validation.
    const worker = await call(a, 'POST', '/v1/checkpoints', ids.workerToken, { namespace: 'x' });
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
      ids.workerToken,
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
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: archive.key }));
    assert.equal(head.ContentLength, archive.bytesCompressed);
    const stored = await s3.send(
      new GetObjectCommand({
        Bucket: bucket,
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

    const restored = await call<RestoreResponse>(b, 'POST', '/v1/restores', ids.workerToken, {
      manifest: {
        bucket,
        key: `${checkpointRequest('counter', podUid, checkpointId).s3.prefix}/manifest.json`,
      },
      target: { namespace: ids.namespace, pod: 'counter-restored' },
    });
    assert.equal(restored.status, 200, JSON.stringify(restored.body));
    started.push({ agent: b, pod: 'counter-restored', container: 'counter' });
    assert.equal(restored.body.node, b.node);
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
    const res = await call<Manifest>(a, 'POST', '/v1/checkpoints', ids.workerToken, req);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const key = res.body.containers[0]!.key;

    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const bytes = Buffer.from(await got.Body!.transformToByteArray());
    const at = Math.floor(bytes.length / 2);
    bytes[at] = bytes[at]! ^ 0x01;
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: bytes }));

    const refused = await call(b, 'POST', '/v1/restores', ids.workerToken, {
      manifest: { bucket, key: `${req.s3.prefix}/manifest.json` },
      target: { namespace: ids.namespace, pod: 'tamper-restored' },
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
