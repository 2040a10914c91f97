/**
 * The module's archive IAM, enforced: a moto server of this test's own, with
 * IAM on, holds the roles and policies terraform/main.tf writes (rendered from
 * its HCL), and the worker's archive access (STS AssumeRole) and the agent's
 * S3 store run against it. What the module denies must come back refused.
 *
 * What moto 5.2.5 evaluates, and so what this shows: signatures and session
 * tokens; the inline and attached policies of the caller's role (actions,
 * and resources with `*` patterns); on sts:AssumeRole, the role's trust
 * policy, whose AWS principal it compares with the caller's exact ARN. What
 * it does not: session policies (it keeps the Policy the worker sends and
 * never reads it), so one checkpoint's session reaching another's prefix is
 * not refused here (the session-policy unit test and the policy check cover
 * it); conditions, but for StringEquals on sts:ExternalId (the others count
 * as met); a bucket policy's principals and conditions (it would apply the
 * module's read-deny to everyone), so that one is the policy check's too;
 * session expiry; KMS permissions behind SSE-KMS.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { createAgentS3Client } from '../../../services/agent/agent-s3-client.js';
import { archiveKey, manifestKey } from '../../../services/agent/archive-layout.js';
import { S3ArchiveStore } from '../../../services/agent/archive-store.js';
import type { ArchiveCredentials } from '../../../services/common/agent-api.js';
import { StsArchiveAccess } from '../../../services/worker/archive-access.js';
import { freePort, MotoServerProcess } from '../../support/moto-server.js';
import { stackEnv } from '../../support/stack.js';
import { moduleMain, policyDocument, type References, renderPolicy } from '../../support/terraform-policy.js';

/** moto's default account. */
const ACCOUNT = '123456789012';
const CLUSTER = 'iam-demo';
/** The module's names: local.name, its roles and its default bucket. */
const NAME = `${CLUSTER}-spot-rescue`;
const BUCKET = `${NAME}-archives-${ACCOUNT}`;
const roleArn = (role: string) => `arn:aws:iam::${ACCOUNT}:role/${NAME}-${role}`;
const ARCHIVE_ROLE = roleArn('archive-access');
const PART = 5 * 2 ** 20;

const main = moduleMain();
const env = stackEnv();
const moto = new MotoServerProcess(await freePort(), env.toolsDir);
const settings = () => ({ awsRegion: env.awsRegion, awsEndpoint: moto.endpoint, requestTimeoutSeconds: 30 });

/** The references of the module's archive policies, as this bucket and these roles spell them. */
const refs = (workerPrincipal: string): References => ({
  'aws_s3_bucket.this[0].arn': `arn:aws:s3:::${BUCKET}`,
  'local.archive_prefix': `${CLUSTER}/`,
  'local.kms_key_arn': `arn:aws:kms:${env.awsRegion}:${ACCOUNT}:key/00000000-0000-0000-0000-000000000000`,
  'local.account_id': ACCOUNT,
  'aws_iam_role.archive_access[0].arn': ARCHIVE_ROLE,
  'aws_iam_role.this["worker"].arn': workerPrincipal,
});

const asCredentials = (c: {
  AccessKeyId?: string | undefined;
  SecretAccessKey?: string | undefined;
  SessionToken?: string | undefined;
  Expiration?: Date | undefined;
}): ArchiveCredentials => ({
  accessKeyId: c.AccessKeyId!,
  secretAccessKey: c.SecretAccessKey!,
  sessionToken: c.SessionToken!,
  expiration: c.Expiration!.toISOString(),
});

/** An SDK credentials object of a session, for the clients a compromised pod would build itself. */
const sdkCredentials = (c: ArchiveCredentials) => ({ ...c, expiration: new Date(c.expiration) });

const storeWith = (c: ArchiveCredentials) =>
  new S3ArchiveStore(createAgentS3Client(settings(), c), { partSizeBytes: PART, queueSize: 2, sse: 'none' });

const bodyOf = async (r: Readable) => {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
};
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const signal = () => AbortSignal.timeout(60_000);

/** Rejects with the S3 or STS error named `code`. */
async function refused(what: Promise<unknown>, code: string, message: string) {
  await assert.rejects(what, (err: Error) => {
    assert.equal(err.name, code, `${message}: ${err.name}: ${err.message}`);
    return true;
  });
}

describe('terraform module: archive IAM enforced (moto with IAM on, the module’s policies)', () => {
  /** Sessions of the module's roles, as Pod Identity would hand them to each pod. */
  let worker: ArchiveCredentials;
  let agent: ArchiveCredentials;
  let intruder: ArchiveCredentials;
  let access: StsArchiveAccess;
  const saved = { ...process.env };

  before(async () => {
    await moto.start();
    const open = { region: env.awsRegion, endpoint: moto.endpoint };
    const openCredentials = { accessKeyId: 'open', secretAccessKey: 'open' };
    const sts = new STSClient({ ...open, credentials: openCredentials });
    const s3 = new S3Client({ ...open, credentials: openCredentials, forcePathStyle: true });
    const createRole = async (role: string, trust: unknown, policy?: unknown) => {
      await moto.iam('CreateRole', {
        RoleName: `${NAME}-${role}`,
        AssumeRolePolicyDocument: JSON.stringify(trust),
      });
      if (policy)
        await moto.iam('PutRolePolicy', {
          RoleName: `${NAME}-${role}`,
          PolicyName: `spot-rescue-${role}`,
          PolicyDocument: JSON.stringify(policy),
        });
    };
    const session = async (role: string) =>
      asCredentials(
        (await sts.send(new AssumeRoleCommand({ RoleArn: roleArn(role), RoleSessionName: `${role}-pod` })))
          .Credentials!,
      );
    try {
      // The pods' roles trust EKS Pod Identity; the sessions are taken while moto is open, as
      // Pod Identity would hand them out.
      const podIdentity = renderPolicy(main, 'assume', refs(''), ['EksPodIdentity']);
      // The worker's policy, the statements on the archives (its EC2 and queue statements play no part here).
      await createRole(
        'worker',
        podIdentity,
        renderPolicy(main, 'worker', refs(''), ['ArchiveObjects', 'AssumeArchiveAccess']),
      );
      // The module gives the agent role no policy today; should it write one, it is loaded here.
      const agentPolicy = policyDocument(main, 'agent') ? renderPolicy(main, 'agent', refs('')) : undefined;
      await createRole('agent', podIdentity, agentPolicy);
      // Not the module's: a role allowed to assume any role, to show the archive role's trust refuses it.
      await createRole('intruder', podIdentity, {
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Action: ['sts:AssumeRole'], Resource: ['*'] }],
      });
      [worker, agent, intruder] = await Promise.all([
        session('worker'),
        session('agent'),
        session('intruder'),
      ]);
      // moto matches a trust policy's AWS principal against the caller's exact ARN, so the worker
      // role's ARN (which AWS matches against each of its sessions) is written as the session's.
      const workerSession = `arn:aws:sts::${ACCOUNT}:assumed-role/${NAME}-worker/worker-pod`;
      await createRole(
        'archive-access',
        renderPolicy(main, 'archive_access_assume', refs(workerSession)),
        renderPolicy(main, 'archive_access', refs(workerSession)),
      );
      await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
      await s3.send(
        new PutObjectCommand({ Bucket: BUCKET, Key: 'other-cluster/ns/pod/uid/ck/c.tar.zst', Body: 'x' }),
      );
      await moto.enforceIam();
    } finally {
      sts.destroy();
      s3.destroy();
    }
    // The worker's STS client takes its credentials from the default chain, as in its pod.
    process.env['AWS_ACCESS_KEY_ID'] = worker.accessKeyId;
    process.env['AWS_SECRET_ACCESS_KEY'] = worker.secretAccessKey;
    process.env['AWS_SESSION_TOKEN'] = worker.sessionToken;
    access = new StsArchiveAccess(
      { awsRegion: env.awsRegion, awsEndpoint: moto.endpoint },
      ARCHIVE_ROLE,
      undefined,
    );
  });

  after(async () => {
    access?.close();
    for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN']) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
    await moto.stop();
  });

  let n = 0;
  /** A fresh checkpoint prefix in the cluster's part of the bucket. */
  const checkpointPrefix = () => `${CLUSTER}/shop/cart-${++n}/6f1c2a4e-${n}/ck-${n}`;
  const sessionFor = (operation: 'checkpoint' | 'restore', prefix: string) =>
    access.credentialsFor({ operation, node: 'node-a', bucket: BUCKET, prefix, until: Date.now() + 60_000 });

  /** A checkpoint as the agent stores it: a multipart archive and its manifest, through a checkpoint session. */
  async function storeCheckpoint(prefix: string) {
    const archive = randomBytes(PART + 2 ** 20);
    const store = storeWith(await sessionFor('checkpoint', prefix));
    await store.upload(BUCKET, archiveKey(prefix, 'app'), Readable.from([archive]), signal());
    await store.putJson(BUCKET, manifestKey(prefix), { archive: sha(archive) }, signal());
    return { archive };
  }

  test('moto enforces: a key it never issued and a session with a forged token are refused', async () => {
    const prefix = checkpointPrefix();
    await storeCheckpoint(prefix);
    const stackKey = { ...worker, accessKeyId: 'testing', secretAccessKey: 'testing' };
    await refused(
      storeWith(stackKey).getJson(BUCKET, manifestKey(prefix), signal()),
      'InvalidAccessKeyId',
      'the shared stack’s key',
    );
    const restore = await sessionFor('restore', prefix);
    await refused(
      storeWith({ ...restore, sessionToken: `${restore.sessionToken}x` }).getJson(
        BUCKET,
        manifestKey(prefix),
        signal(),
      ),
      'InvalidToken',
      'a forged session token',
    );
  });

  test('the worker’s sessions let the agent store a checkpoint and read it back', async () => {
    const prefix = checkpointPrefix();
    const { archive } = await storeCheckpoint(prefix);
    const store = storeWith(await sessionFor('restore', prefix));
    assert.deepEqual(await store.getJson(BUCKET, manifestKey(prefix), signal()), { archive: sha(archive) });
    const back = await bodyOf(await store.download(BUCKET, archiveKey(prefix, 'app'), signal()));
    assert.equal(sha(back), sha(archive));
    // A failed checkpoint removes what it uploaded: its session may (the clean-up does not fail silently).
    await storeWith(await sessionFor('checkpoint', prefix)).remove(BUCKET, manifestKey(prefix));
  });

  test('the agent’s own role reads, writes and deletes no archive, and cannot assume the archive-access role', async () => {
    const prefix = checkpointPrefix();
    await storeCheckpoint(prefix);
    const own = storeWith(agent);
    await refused(own.download(BUCKET, archiveKey(prefix, 'app'), signal()), 'AccessDenied', 'read');
    await refused(own.getJson(BUCKET, manifestKey(prefix), signal()), 'AccessDenied', 'read the manifest');
    await refused(
      own.putJson(BUCKET, `${checkpointPrefix()}/manifest.json`, { forged: true }, signal()),
      'AccessDenied',
      'write',
    );
    await refused(own.remove(BUCKET, archiveKey(prefix, 'app')), 'AccessDenied', 'delete');
    const sts = new STSClient({
      region: env.awsRegion,
      endpoint: moto.endpoint,
      credentials: sdkCredentials(agent),
    });
    try {
      await refused(
        sts.send(new AssumeRoleCommand({ RoleArn: ARCHIVE_ROLE, RoleSessionName: 'agent-own-session' })),
        'AccessDenied',
        'mint its own archive session',
      );
    } finally {
      sts.destroy();
    }
  });

  test('the archive-access role trusts only the worker: a role allowed to assume any role is refused', async () => {
    const sts = new STSClient({
      region: env.awsRegion,
      endpoint: moto.endpoint,
      credentials: sdkCredentials(intruder),
    });
    try {
      await refused(
        sts.send(new AssumeRoleCommand({ RoleArn: ARCHIVE_ROLE, RoleSessionName: 'intruder-session' })),
        'AccessDenied',
        'assume the archive-access role',
      );
    } finally {
      sts.destroy();
    }
  });

  test('an archive session reaches nothing outside the cluster’s prefix', async () => {
    const checkpoint = storeWith(await sessionFor('checkpoint', checkpointPrefix()));
    const restore = storeWith(await sessionFor('restore', checkpointPrefix()));
    const other = 'other-cluster/ns/pod/uid/ck/c.tar.zst';
    await refused(
      restore.download(BUCKET, other, signal()),
      'AccessDenied',
      'read another cluster’s archive',
    );
    await refused(
      checkpoint.putJson(BUCKET, 'other-cluster/ns/pod/uid/ck2/manifest.json', {}, signal()),
      'AccessDenied',
      'write under another cluster',
    );
    await refused(checkpoint.remove(BUCKET, other), 'AccessDenied', 'delete another cluster’s archive');
    await refused(
      checkpoint.putJson(BUCKET, 'manifest.json', {}, signal()),
      'AccessDenied',
      'write at the top',
    );
  });

  test('a session allowed to write a checkpoint cannot overwrite its archive or manifest (If-None-Match)', async () => {
    const prefix = checkpointPrefix();
    const { archive } = await storeCheckpoint(prefix);
    const again = storeWith(await sessionFor('checkpoint', prefix));
    await refused(
      again.putJson(BUCKET, manifestKey(prefix), { archive: sha(Buffer.from('forged')) }, signal()),
      'PreconditionFailed',
      'overwrite the manifest',
    );
    await refused(
      again.upload(BUCKET, archiveKey(prefix, 'app'), Readable.from([randomBytes(PART + 1)]), signal()),
      'PreconditionFailed',
      'overwrite the archive (multipart)',
    );
    await refused(
      again.upload(BUCKET, archiveKey(prefix, 'app'), Readable.from([Buffer.from('small')]), signal()),
      'PreconditionFailed',
      'overwrite the archive (single PUT)',
    );
    const restore = storeWith(await sessionFor('restore', prefix));
    assert.deepEqual(await restore.getJson(BUCKET, manifestKey(prefix), signal()), { archive: sha(archive) });
    assert.equal(
      sha(await bodyOf(await restore.download(BUCKET, archiveKey(prefix, 'app'), signal()))),
      sha(archive),
    );
  });
});
