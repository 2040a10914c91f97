import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { StsArchiveAccess } from '../../../services/worker/archive-access.js';
import {
  archiveSessionPolicy,
  sessionName,
  sessionSeconds,
} from '../../../services/worker/archive-session-policy.js';

const NOW = Date.parse('2026-09-01T12:00:00.000Z');
const ROLE = 'arn:aws:iam::123456789012:role/prod-spot-rescue-archive-access';
const PREFIX = 'prod/shop/cart-0/6f1c2a4e-1111-4c4c-8888-0123456789ab/ck-9845d08fd8796fa2';

/**
 * The AssumeRole call the worker makes for an agent's operation. moto, the
 * stack's STS, keeps the session policy it is sent but never applies it
 * (test/integration/terraform/iam-enforcement.test.ts says what it does
 * enforce), so a call that left the policy out would pass every test run
 * against it and hand the agent the whole role; what the worker sends is
 * checked here, against an STS stand-in that records it.
 */
describe('the archive session the worker asks STS for', () => {
  let sts: Server;
  let access: StsArchiveAccess;
  const calls: URLSearchParams[] = [];
  let answer = '';
  const savedEnv: Record<string, string | undefined> = {};
  const CREDENTIAL_ENV = {
    AWS_ACCESS_KEY_ID: 'AKIAWORKER0000000000',
    AWS_SECRET_ACCESS_KEY: 'worker-secret',
  };

  before(async () => {
    sts = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => {
        body += d.toString();
      });
      req.on('end', () => {
        calls.push(new URLSearchParams(body));
        res.writeHead(200, { 'content-type': 'text/xml' }).end(answer);
      });
    });
    await new Promise<void>((r) => sts.listen(0, '127.0.0.1', r));
    // The worker's STS client takes its own credentials from the default chain, as in its pod.
    for (const [k, v] of Object.entries(CREDENTIAL_ENV)) {
      savedEnv[k] = process.env[k];
      process.env[k] = v;
    }
    const endpoint = `http://127.0.0.1:${(sts.address() as AddressInfo).port}`;
    access = new StsArchiveAccess(
      { awsRegion: 'us-east-1', awsEndpoint: endpoint },
      ROLE,
      undefined,
      () => NOW,
    );
  });

  after(async () => {
    access.close();
    for (const [k, v] of Object.entries(savedEnv)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await new Promise((r) => sts.close(r));
  });

  const assumeRoleAnswer = (
    credentials: string,
  ) => `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    ${credentials}
    <AssumedRoleUser>
      <AssumedRoleId>AROAEXAMPLE:spot-rescue-restore-node-a</AssumedRoleId>
      <Arn>arn:aws:sts::123456789012:assumed-role/prod-spot-rescue-archive-access/spot-rescue-restore-node-a</Arn>
    </AssumedRoleUser>
  </AssumeRoleResult>
  <ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata>
</AssumeRoleResponse>`;

  test('one AssumeRole per operation: limited by its session policy to the checkpoint, named for the operation and node, as long as the operation needs', async () => {
    answer = assumeRoleAnswer(`<Credentials>
      <AccessKeyId>ASIASESSION000000000</AccessKeyId>
      <SecretAccessKey>session-secret</SecretAccessKey>
      <SessionToken>session-token</SessionToken>
      <Expiration>2026-09-01T12:16:30Z</Expiration>
    </Credentials>`);
    const until = NOW + 90_000;
    const credentials = await access.credentialsFor({
      operation: 'restore',
      node: 'node-a',
      bucket: 'archives',
      prefix: PREFIX,
      until,
    });
    assert.deepEqual(credentials, {
      accessKeyId: 'ASIASESSION000000000',
      secretAccessKey: 'session-secret',
      sessionToken: 'session-token',
      expiration: '2026-09-01T12:16:30.000Z',
    });
    assert.equal(calls.length, 1);
    const call = calls[0]!;
    assert.equal(call.get('Action'), 'AssumeRole');
    assert.equal(call.get('RoleArn'), ROLE);
    assert.deepEqual(
      JSON.parse(call.get('Policy') ?? 'null'),
      archiveSessionPolicy({ operation: 'restore', partition: 'aws', bucket: 'archives', prefix: PREFIX }),
    );
    assert.equal(call.get('RoleSessionName'), sessionName('restore', 'node-a'));
    assert.equal(call.get('DurationSeconds'), String(sessionSeconds(until, NOW)));
  });

  test('an answer without credentials is an error, never an agent left on its own role', async () => {
    answer = assumeRoleAnswer('');
    await assert.rejects(
      access.credentialsFor({
        operation: 'checkpoint',
        node: 'n',
        bucket: 'archives',
        prefix: PREFIX,
        until: NOW,
      }),
      /returned no credentials/,
    );
  });
});
