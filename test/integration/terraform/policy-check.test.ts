/**
 * What the module's IAM and Redis configuration allows, read from its HCL
 * (terraform validate, in terraform.test.ts, proves it is well-formed; this
 * checks what it says; test/support/terraform-policy.ts reads the HCL). The tags the policy requires are
 * read from the worker's launch code, so renaming one on either side fails here.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { archiveSessionPolicy } from '../../../services/worker/archive-session-policy.js';
import {
  block,
  blocks,
  list,
  moduleMain,
  repoRoot,
  type Statement,
  statements,
} from '../../support/terraform-policy.js';

const main = moduleMain();
const capacity = readFileSync(join(repoRoot, 'services/worker/capacity.ts'), 'utf8');

const workerDoc = block(main, 'data "aws_iam_policy_document" "worker" {')!.body;
const worker = statements(workerDoc);
const condition = (s: Statement, variable: string) => s.conditions.find((c) => c.variable === variable);

const provisionTag = /const PROVISION_TAG = '([^']+)'/.exec(capacity)?.[1];
const clusterTag = /\{ Key: '([^']+)', Value: this\.o\.cluster \}/.exec(capacity)?.[1];

describe('terraform module: what the worker may do in EC2', () => {
  it('reads the tags the worker puts on what it launches', () => {
    assert.equal(provisionTag, 'spot-rescue.io/provisioned-for');
    assert.equal(clusterTag, 'spot-rescue.io/cluster');
    assert.match(capacity, /TagSpecifications: \[\{ ResourceType: 'instance', Tags: tags \}\]/);
  });

  it('launches only in its own region: every launch statement names it and no ARN has a wildcard region', () => {
    const launches = worker.filter((s) => s.actions.some((a) => /ec2:(RunInstances|CreateFleet)/.test(a)));
    assert.ok(launches.length >= 3, `launch statements: ${launches.map((s) => s.sid)}`);
    for (const s of launches) {
      assert.deepEqual(condition(s, 'aws:RequestedRegion'), {
        test: 'StringEquals',
        variable: 'aws:RequestedRegion',
        values: ['local.region'],
      });
      for (const r of s.resources) assert.doesNotMatch(r, /:ec2:\*:/, `${s.sid}: ${r}`);
    }
  });

  it('launches instances only from the configured templates, of the configured types, with its tags', () => {
    const s = worker.find(
      (x) => x.resources.some((r) => r.endsWith(':instance/*')) && x.actions.includes('ec2:RunInstances'),
    );
    assert.ok(s, 'a statement grants RunInstances on instances');
    assert.equal(
      worker.filter(
        (x) => x.actions.includes('ec2:RunInstances') && x.resources.some((r) => r.endsWith(':instance/*')),
      ).length,
      1,
      'and only one',
    );
    assert.deepEqual(condition(s, 'ec2:LaunchTemplate'), {
      test: 'ArnLike',
      variable: 'ec2:LaunchTemplate',
      values: ['var.launch_template_arns'],
    });
    assert.deepEqual(condition(s, 'ec2:InstanceType')?.values, ['var.launch_instance_types']);
    assert.deepEqual(condition(s, `aws:RequestTag/${clusterTag}`), {
      test: 'StringEquals',
      variable: `aws:RequestTag/${clusterTag}`,
      values: ['var.cluster_name'],
    });
    assert.deepEqual(condition(s, `aws:RequestTag/${provisionTag}`), {
      test: 'Null',
      variable: `aws:RequestTag/${provisionTag}`,
      values: ['false'],
    });
  });

  it('terminates only instances carrying both of its tags', () => {
    const terminate = worker.filter((s) => s.actions.some((a) => a.includes('TerminateInstances')));
    assert.equal(terminate.length, 1);
    const s = terminate[0]!;
    assert.deepEqual(s.actions, ['ec2:TerminateInstances']);
    assert.ok(s.resources.every((r) => r.endsWith(':instance/*')));
    assert.deepEqual(condition(s, `aws:ResourceTag/${clusterTag}`)?.values, ['var.cluster_name']);
    assert.deepEqual(condition(s, `aws:ResourceTag/${provisionTag}`), {
      test: 'Null',
      variable: `aws:ResourceTag/${provisionTag}`,
      values: ['false'],
    });
  });

  it('grants no EC2 or IAM action on every resource except Describe calls', () => {
    for (const s of worker.filter((x) => x.resources.includes('*'))) {
      for (const a of s.actions) assert.match(a, /^(ec2|autoscaling):Describe/, `${s.sid}: ${a} on *`);
    }
  });
});

describe('terraform module: Redis', () => {
  const group = block(main, 'resource "aws_elasticache_replication_group" "this" {')!.body;

  it('requires AUTH over TLS on the replication group it creates', () => {
    assert.match(group, /\n\s*transit_encryption_enabled\s*=\s*true\n/);
    assert.match(group, /\n\s*auth_token\s*=\s*local\.redis_auth_token\n/);
    assert.match(main, /redis_auth_token = local\.create_redis \? sensitive\(/, 'the token is sensitive');
  });

  it('hands the chart a URL carrying the token', () => {
    assert.match(
      main,
      /redis_url\s*=\s*local\.create_redis \? "rediss:\/\/:\$\{urlencode\(local\.redis_auth_token\)\}@/,
    );
    const release = block(main, 'resource "helm_release" "this" {')!.body;
    assert.match(release, /set_sensitive[\s\S]*name\s*=\s*"redis\.url"[\s\S]*value\s*=\s*local\.redis_url/);
  });

  it('opens Redis only to the security groups it is given', () => {
    const rules = [...main.matchAll(/resource "aws_vpc_security_group_ingress_rule" "(\w+)" \{/g)].map(
      (m) => ({
        name: m[1]!,
        body: block(main, m[0])!.body,
      }),
    );
    const redis = rules.filter((r) => r.body.includes('aws_security_group.redis'));
    assert.equal(redis.length, 1);
    const r = redis[0]!.body;
    assert.match(r, /for_each\s*=.*var\.redis_allowed_security_group_ids/);
    assert.match(r, /referenced_security_group_id\s*=\s*each\.value/);
    assert.doesNotMatch(r, /cidr_ipv[46]/);
    assert.match(r, /from_port\s*=\s*6379[\s\S]*to_port\s*=\s*6379/);
  });
});

/** Principal identifiers of a statement block, as written (`type:identifier`). */
function principalsOf(doc: string, sid: string): string[] {
  const body = [...blocks(doc, 'statement'), ...blocks(doc, 'content')].find((b) =>
    new RegExp(`\\bsid\\s*=\\s*"${sid}"`).test(b),
  );
  assert.ok(body, `statement ${sid}`);
  return blocks(body, 'principals').flatMap((p) =>
    list(p, 'identifiers').map((i) => `${list(p, 'type')[0]!.replace(/"/g, '')}:${i}`),
  );
}

describe('terraform module: who reaches the archives', () => {
  const doc = (name: string) => block(main, `data "aws_iam_policy_document" "${name}" {`)?.body;
  const archiveRole = 'aws_iam_role.archive_access[0].arn';
  const workerRole = 'aws_iam_role.this["worker"].arn';

  it('gives the agents no S3 or KMS access of their own: only the sessions the worker hands them', () => {
    const agent = doc('agent');
    if (agent) {
      for (const s of statements(agent))
        for (const a of s.actions) assert.doesNotMatch(a, /^(s3|kms):/, `agent ${s.sid}: ${a}`);
    }
    const policies = block(main, 'resource "aws_iam_role_policy" "this" {')!.body;
    assert.match(policies, /if k != "agent"/, 'no inline policy on the agent role');
    assert.doesNotMatch(main, /\bagent\s*=\s*try\(data\.aws_iam_policy_document\.agent/);
  });

  it('lets only the worker assume the archive-access role, and the worker assume nothing else', () => {
    const trust = statements(doc('archive_access_assume')!);
    assert.deepEqual(
      trust.map((s) => s.actions),
      [['sts:AssumeRole']],
    );
    assert.deepEqual(principalsOf(doc('archive_access_assume')!, 'WorkerOnly'), [`AWS:${workerRole}`]);
    const role = block(main, 'resource "aws_iam_role" "archive_access" {')!.body;
    assert.match(
      role,
      /assume_role_policy\s*=\s*data\.aws_iam_policy_document\.archive_access_assume\[0\]\.json/,
    );
    const assume = worker.filter((s) => s.actions.some((a) => a.startsWith('sts:')));
    assert.deepEqual(
      assume.map((s) => ({ actions: s.actions, resources: s.resources })),
      [{ actions: ['sts:AssumeRole'], resources: [archiveRole] }],
    );
  });

  it("grants the archive-access role what the agents' session policies use, on the cluster's prefix only", () => {
    const granted = statements(doc('archive_access')!);
    const used = new Set(
      (['checkpoint', 'restore'] as const).flatMap((operation) =>
        archiveSessionPolicy({
          operation,
          partition: 'aws',
          bucket: 'archives',
          prefix: 'c/ns/pod/uid/ck',
          kmsKeyArn: 'arn:aws:kms:eu-west-1:111122223333:key/k',
        }).Statement.flatMap((s) => s.Action),
      ),
    );
    assert.deepEqual(new Set(granted.flatMap((s) => s.actions)), used);
    const objects = granted.find((s) => s.actions.includes('s3:GetObject'))!;
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Terraform's interpolation, as main.tf writes it
    assert.deepEqual(objects.resources, ['${aws_s3_bucket.this[0].arn}/${local.archive_prefix}*']);
    assert.deepEqual(granted.find((s) => s.actions.includes('kms:Decrypt'))?.resources, [
      'local.kms_key_arn',
    ]);
    const release = block(main, 'resource "helm_release" "this" {')!.body;
    assert.match(main, /archiveRoleArn\s*=\s*try\(aws_iam_role\.archive_access\[0\]\.arn, ""\)/);
    assert.match(release, /aws_iam_role_policy\.archive_access/);
  });

  it('denies reads of the bucket to everyone but the worker and the archive-access role', () => {
    const bucket = doc('bucket')!;
    const deny = statements(bucket).find((s) => s.actions.includes('s3:GetObject'));
    assert.ok(deny, 'a statement on s3:GetObject');
    assert.match(bucket, new RegExp(`sid\\s*=\\s*"${deny.sid}"\\s*\\n\\s*effect\\s*=\\s*"Deny"`));
    assert.deepEqual(deny.actions, ['s3:GetObject', 's3:GetObjectVersion']);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Terraform's interpolation, as main.tf writes it
    assert.deepEqual(deny.resources, ['${aws_s3_bucket.this[0].arn}/*']);
    assert.deepEqual(principalsOf(bucket, deny.sid), ['*:*']);
    const except = condition(deny, 'aws:PrincipalArn');
    assert.equal(except?.test, 'ArnNotEquals');
    assert.deepEqual(except?.values, [`concat([${workerRole}, ${archiveRole}], var.archive_readers)`]);
  });
});

describe('terraform module: archive objects', () => {
  // The agents' S3 calls are made with the archive-access sessions the worker hands them.
  const sessions = statements(block(main, 'data "aws_iam_policy_document" "archive_access" {')!.body);
  /** The S3 object actions a file's code needs, read from the commands it sends. */
  const needed = (file: string) => {
    const code = readFileSync(join(repoRoot, file), 'utf8');
    return [
      ['GetObjectCommand', 's3:GetObject'],
      ['PutObjectCommand', 's3:PutObject'],
      ['new Upload(', 's3:PutObject'],
      ['AbortMultipartUploadCommand', 's3:AbortMultipartUpload'],
      ['DeleteObjectCommand', 's3:DeleteObject'],
    ]
      .filter(([command]) => code.includes(`${command}`))
      .map(([, action]) => action!);
  };
  const granted = (doc: Statement[]) => doc.find((s) => s.sid === 'ArchiveObjects')?.actions ?? [];

  it('lets each role send every object call its code makes (no silently failing clean-up)', () => {
    for (const action of needed('services/agent/archive-store.ts'))
      assert.ok(granted(sessions).includes(action), `agents' sessions need ${action}`);
    for (const action of needed('services/worker/manifest-store.ts'))
      assert.ok(granted(worker).includes(action), `worker needs ${action}`);
    assert.ok(needed('services/agent/archive-store.ts').includes('s3:DeleteObject'));
    assert.ok(needed('services/worker/manifest-store.ts').includes('s3:DeleteObject'));
  });
});
