import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SIM_ARCHIVE_ROLE_ARN } from '../../../infra/sim/aws-resources.js';
import { SigningRecorder } from '../../support/signing-recorder.js';
import { stackEnv } from '../../support/stack.js';
import { eventRef, TestBed } from './harness.js';

/**
 * The worker with an archive-access role (SPOT_RESCUE_ARCHIVE_ROLE_ARN):
 * each checkpoint and restore it asks of an agent comes with an STS session
 * of that role (moto's AssumeRole), and the agents' S3 writes and archive
 * reads are all signed with such sessions, never with their own key. What a
 * session may reach is the session policy's (unit-tested) and IAM's to
 * enforce; moto does not (not even with IAM on: it ignores session policies,
 * test/integration/terraform/iam-enforcement.test.ts).
 */
describe('worker: agents reach S3 through the sessions the worker hands them', () => {
  const bed = new TestBed('wsess');
  const source = bed.node('src');
  const target = bed.node('dst');
  const recorder = new SigningRecorder();
  const ownKey = process.env['AWS_ACCESS_KEY_ID'];

  before(async () => {
    const endpoint = await recorder.start(stackEnv().awsEndpoint);
    const agentEnv = { SPOT_RESCUE_AWS_ENDPOINT: endpoint };
    await bed.setUp({
      nodes: [
        { suffix: 'src', zone: 'us-east-1a', agentEnv },
        { suffix: 'dst', zone: 'us-east-1a', unschedulable: true, agentEnv },
      ],
    });
    await bed.startWorker({
      extra: { SPOT_RESCUE_ARCHIVE_ROLE_ARN: SIM_ARCHIVE_ROLE_ARN },
    });
  });

  after(async () => {
    await bed.close();
    recorder.close();
  });

  test('a rescue whose every agent write and archive read is signed by a session, not the agent', async () => {
    assert.ok(ownKey);
    const original = await bed.soloPodToMove(source, target);
    recorder.take();
    const results = await bed.migrateAll(
      eventRef(120_000),
      { name: source, instanceId: 'i-0123456789abcdef0' },
      [original],
    );
    assert.equal(results[0]?.outcome, 'restored', JSON.stringify(results));
    const calls = recorder.take().filter((c) => c.path.includes(`/${bed.bucket}/`));
    const writes = calls.filter((c) => c.method === 'PUT' || c.method === 'POST');
    const archiveReads = calls.filter((c) => c.method === 'GET' && c.path.includes('.tar.zst'));
    assert.ok(writes.length >= 2, `archive and manifest written: ${JSON.stringify(calls)}`);
    assert.ok(archiveReads.length >= 1, 'the archive was read');
    // Only the agents' S3 goes through the recorder (the worker's own manifest reads do not).
    for (const c of calls) {
      assert.ok(
        c.sessionToken && c.accessKeyId !== ownKey,
        `${c.method} ${c.path} signed with ${c.accessKeyId}`,
      );
    }
    // The checkpoint (source) and the restore (target) each had a session of their own.
    assert.notEqual(writes[0]!.accessKeyId, archiveReads[0]!.accessKeyId);
    await bed.waitContinued({ node: source, pod: 'solo' }, { node: target, pod: 'solo' });
  });
});
