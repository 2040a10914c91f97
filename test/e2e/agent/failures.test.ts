import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { HeadObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { stackEnv, waitFor } from '../../support/stack.js';
import { AgentBed, type AgentProcess, call } from './harness.js';
import { S3FaultProxy } from './s3-fault-proxy.js';

describe('agent: S3 failing and deadlines passing during a checkpoint', () => {
  const bed = new AgentBed();
  const { s3 } = bed;
  const proxy = new S3FaultProxy(stackEnv().awsEndpoint);
  let agent: AgentProcess;

  before(async () => {
    await bed.setUp();
    const endpoint = await proxy.start();
    agent = await bed.startAgent('e2e-f', {
      SPOT_RESCUE_AWS_ENDPOINT: endpoint,
      // Small parts, one at a time: the failure lands mid-archive, after parts went up.
      SPOT_RESCUE_AGENT_PART_SIZE_MIB: '5',
      SPOT_RESCUE_AGENT_UPLOAD_QUEUE_SIZE: '1',
    });
  });

  after(async () => {
    await bed.close();
    await proxy.stop();
  });

  async function startCounter(pod: string) {
    const podUid = await bed.startCounter(agent, pod, { container: 'app', mib: 64, memoryMiB: 192 });
    await bed.waitSwept(agent, pod, 'app');
    return podUid;
  }

  const progress = (pod: string) => bed.progress(agent, pod, 'app');

  function request(pod: string, podUid: string, deadlineMs: number) {
    const checkpointId = `cp-${randomUUID().slice(0, 8)}`;
    return bed.checkpointRequest(pod, podUid, { container: 'app', checkpointId, deadlineMs });
  }

  async function assertNothingStored(prefix: string) {
    const objects = await s3.send(new ListObjectsV2Command({ Bucket: bed.bucket, Prefix: prefix }));
    assert.deepEqual(objects.Contents ?? [], [], 'no object (archive or manifest) remains');
    await assert.rejects(
      s3.send(new HeadObjectCommand({ Bucket: bed.bucket, Key: `${prefix}/app.tar.zst` })),
    );
    const uploads = await s3.send(new ListMultipartUploadsCommand({ Bucket: bed.bucket, Prefix: prefix }));
    assert.deepEqual(uploads.Uploads ?? [], [], 'no multipart upload is left open');
  }

  async function assertRunningAgain(pod: string, before: { values: Record<string, number> }) {
    const again = await waitFor(`${pod} to run on after the abandoned checkpoint`, async () => {
      const p = await progress(pod);
      return p && p.status === 'running' && p.values['counter']! > before.values['counter']! + 10
        ? p
        : undefined;
    });
    assert.equal(again.values['corrupt'], 0);
  }

  test('S3 cutting connections mid-upload: storage-failed, no object, and the container runs on', async () => {
    const podUid = await startCounter('cut');
    const req = request('cut', podUid, 90_000);
    proxy.mode = { kind: 'cut-parts', afterParts: 1 };
    proxy.partsSeen = 0;
    const res = await call(agent, 'POST', '/v1/checkpoints', bed.ids.workerToken, req);
    proxy.mode = { kind: 'pass' };
    assert.equal(res.status, 502, JSON.stringify(res.body));
    assert.equal(res.body['error'], 'storage-failed');
    assert.ok(String(res.body['message']).length > 0);
    assert.ok(proxy.partsSeen > 1 && proxy.partsBroken > 0, 'a part went up before the failure');
    await assertNothingStored(req.s3.prefix);
    const p = await progress('cut');
    assert.ok(p);
    await assertRunningAgain('cut', p);
  });

  test('a checkpoint that cannot finish before its deadline is abandoned in time', async () => {
    const podUid = await startCounter('slow');
    const deadlineMs = 4_000;
    const req = request('slow', podUid, deadlineMs);
    proxy.mode = { kind: 'stall-parts' };
    const started = Date.now();
    const res = await call(agent, 'POST', '/v1/checkpoints', bed.ids.workerToken, req);
    const answeredAfter = Date.now() - started;
    proxy.mode = { kind: 'pass' };
    assert.equal(res.status, 504, JSON.stringify(res.body));
    assert.equal(res.body['error'], 'deadline-exceeded');
    assert.ok(proxy.partsBroken > 0, 'the upload was under way when the deadline passed');
    // Abandoned at the deadline, not when S3 would have given up; the margin covers putting the container back.
    assert.ok(answeredAfter < deadlineMs + 5_000, `answered ${answeredAfter} ms after the request`);
    await assertNothingStored(req.s3.prefix);
    const p = await progress('slow');
    assert.ok(p);
    await assertRunningAgain('slow', p);
  });

  test('a deadline already past is refused before anything is touched', async () => {
    const podUid = await startCounter('late');
    const before = await progress('late');
    const req = request('late', podUid, -1_000);
    const res = await call(agent, 'POST', '/v1/checkpoints', bed.ids.workerToken, req);
    assert.equal(res.status, 504);
    assert.equal(res.body['error'], 'deadline-exceeded');
    assert.ok(before);
    await assertRunningAgain('late', before);
    await assertNothingStored(req.s3.prefix);
  });
});
