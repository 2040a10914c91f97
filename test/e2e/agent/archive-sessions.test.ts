/**
 * Per-operation S3 sessions: the worker's archive access (STS AssumeRole of
 * the archive-access role with a session policy, moto's STS here) hands an
 * agent credentials for one checkpoint or restore, and every S3 request the
 * agent makes for that operation is signed with them, never with its own.
 * The stack's moto does not enforce IAM, and one that does ignores session
 * policies (test/integration/terraform/iam-enforcement.test.ts), so what the
 * session may reach is checked by the session-policy unit test and the
 * Terraform policy check; this test checks that the agent really uses the
 * session, through a recording hop to moto.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import {
  type ArchiveCredentials,
  archiveDigests,
  type Manifest,
  type RestoreResponse,
} from '../../../services/common/agent-api.js';
import { StsArchiveAccess } from '../../../services/worker/archive-access.js';
import { AgentBed, type AgentProcess, call } from '../../support/agent-bed.js';
import { SigningRecorder } from '../../support/signing-recorder.js';
import { awsSettings, stackEnv, waitFor } from '../../support/stack.js';

describe('agent: S3 through the per-operation session the worker hands it', () => {
  const bed = new AgentBed();
  const recorder = new SigningRecorder();
  const access = new StsArchiveAccess(
    awsSettings(),
    'arn:aws:iam::123456789012:role/spot-rescue-archive-access',
    undefined,
  );
  const ownKey = process.env['AWS_ACCESS_KEY_ID'];
  let a: AgentProcess;
  let b: AgentProcess;

  before(async () => {
    await bed.setUp();
    const endpoint = await recorder.start(stackEnv().awsEndpoint);
    const env = { SPOT_RESCUE_AWS_ENDPOINT: endpoint };
    [a, b] = await Promise.all([bed.startAgent('e2e-sess-a', env), bed.startAgent('e2e-sess-b', env)]);
  });

  after(async () => {
    await bed.close();
    recorder.close();
    access.close();
  });

  const ofSession = (c: ArchiveCredentials) => (r: { accessKeyId: string; sessionToken: boolean }) =>
    r.accessKeyId === c.accessKeyId && r.sessionToken;

  test('a checkpoint and its restore sign every S3 request with their own sessions, never with the agent’s key', async () => {
    assert.ok(ownKey, 'the agents have credentials of their own (the stack’s)');
    const podUid = await bed.startCounter(a, 'counter', { container: 'counter', mib: 8, memoryMiB: 136 });
    await bed.waitSwept(a, 'counter', 'counter');
    const checkpointId = `cp-${randomUUID().slice(0, 8)}`;
    const req = bed.checkpointRequest('counter', podUid, {
      container: 'counter',
      checkpointId,
      deadlineMs: 90_000,
    });
    const forCheckpoint = await access.credentialsFor({
      operation: 'checkpoint',
      node: a.node,
      bucket: bed.bucket,
      prefix: req.s3.prefix,
      until: Date.now() + 90_000,
    });
    assert.notEqual(forCheckpoint.accessKeyId, ownKey);
    recorder.take();
    const cp = await call<Manifest>(a, 'POST', '/v1/checkpoints', bed.ids.workerToken, {
      ...req,
      credentials: forCheckpoint,
    });
    assert.equal(cp.status, 200, JSON.stringify(cp.body));
    const checkpointCalls = recorder.take();
    assert.ok(
      checkpointCalls.some((r) => r.method === 'PUT' && r.path.includes('manifest.json')),
      'the manifest went through the hop',
    );
    assert.deepEqual(
      checkpointCalls.filter((r) => !ofSession(forCheckpoint)(r)),
      [],
      'every checkpoint request signed with its session',
    );

    const forRestore = await access.credentialsFor({
      operation: 'restore',
      node: b.node,
      bucket: bed.bucket,
      prefix: req.s3.prefix,
      until: Date.now() + 90_000,
    });
    assert.notEqual(forRestore.accessKeyId, forCheckpoint.accessKeyId, 'a session per operation');
    const restored = await call<RestoreResponse>(b, 'POST', '/v1/restores', bed.ids.workerToken, {
      manifest: { bucket: bed.bucket, key: `${req.s3.prefix}/manifest.json` },
      archives: archiveDigests(cp.body),
      target: { namespace: bed.ids.namespace, pod: 'counter-restored' },
      credentials: forRestore,
    });
    assert.equal(restored.status, 200, JSON.stringify(restored.body));
    bed.track(b, 'counter-restored', 'counter');
    const restoreCalls = recorder.take();
    assert.ok(restoreCalls.filter((r) => r.method === 'GET').length >= 2, 'manifest and archive read');
    assert.deepEqual(
      restoreCalls.filter((r) => !ofSession(forRestore)(r)),
      [],
      'every restore request signed with its session',
    );
    await waitFor('the restored counter to run', async () => {
      const p = await bed.progress(b, 'counter-restored', 'counter');
      return p?.status === 'running' ? p : undefined;
    });

    // Session secrets never reach the agents' logs.
    for (const agent of [a, b]) {
      const logged = JSON.stringify(agent.lines);
      for (const c of [forCheckpoint, forRestore]) {
        assert.ok(!logged.includes(c.secretAccessKey), `${agent.node} logged a secret key`);
        assert.ok(!logged.includes(c.sessionToken), `${agent.node} logged a session token`);
      }
    }
  });

  test('without a session the agent uses its own credentials (SPOT_RESCUE_ARCHIVE_ROLE_ARN unset)', async () => {
    recorder.take();
    const r = await call(b, 'POST', '/v1/restores', bed.ids.workerToken, {
      manifest: { bucket: bed.bucket, key: `local/${bed.ids.namespace}/none/uid/cp-none/manifest.json` },
      archives: [
        {
          name: 'counter',
          key: `local/${bed.ids.namespace}/none/uid/cp-none/counter.tar.zst`,
          bytesRaw: 1,
          bytesCompressed: 1,
          sha256: '0'.repeat(64),
        },
      ],
      target: { namespace: bed.ids.namespace, pod: 'nobody' },
    });
    assert.equal(r.status, 404, JSON.stringify(r.body));
    const calls = recorder.take();
    assert.ok(calls.length >= 1);
    assert.ok(calls.every((c) => c.accessKeyId === ownKey && !c.sessionToken));
  });
});
