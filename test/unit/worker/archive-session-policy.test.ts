import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  archiveSessionPolicy,
  partitionOf,
  sessionName,
  sessionSeconds,
} from '../../../services/worker/archive-session-policy.js';

const PREFIX = 'prod/shop/cart-0/6f1c2a4e-1111-4c4c-8888-0123456789ab/ck-9845d08fd8796fa2';
const KEY = 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';

describe('the session policy of an agent operation', () => {
  test('a checkpoint may write, abort and remove objects of its own checkpoint prefix, nothing else', () => {
    assert.deepEqual(
      archiveSessionPolicy({ operation: 'checkpoint', partition: 'aws', bucket: 'archives', prefix: PREFIX }),
      {
        Version: '2012-10-17',
        Statement: [
          {
            Sid: 'ThisCheckpointOnly',
            Effect: 'Allow',
            Action: ['s3:PutObject', 's3:AbortMultipartUpload', 's3:DeleteObject'],
            Resource: [`arn:aws:s3:::archives/${PREFIX}/*`],
          },
        ],
      },
    );
  });

  test('a restore may only read its checkpoint; with SSE-KMS, decrypt with the archive key only', () => {
    assert.deepEqual(
      archiveSessionPolicy({
        operation: 'restore',
        partition: 'aws-cn',
        bucket: 'archives',
        prefix: PREFIX,
        kmsKeyArn: KEY,
      }).Statement,
      [
        {
          Sid: 'ThisCheckpointOnly',
          Effect: 'Allow',
          Action: ['s3:GetObject'],
          Resource: [`arn:aws-cn:s3:::archives/${PREFIX}/*`],
        },
        { Sid: 'ArchiveKey', Effect: 'Allow', Action: ['kms:Decrypt'], Resource: [KEY] },
      ],
    );
    const checkpoint = archiveSessionPolicy({
      operation: 'checkpoint',
      partition: 'aws',
      bucket: 'archives',
      prefix: PREFIX,
      kmsKeyArn: KEY,
    });
    assert.deepEqual(checkpoint.Statement[1]?.Action, ['kms:GenerateDataKey', 'kms:Decrypt']);
  });

  test('no wildcard but the one that closes the prefix, no list, no bucket-wide resource', () => {
    for (const operation of ['checkpoint', 'restore'] as const) {
      const p = archiveSessionPolicy({ operation, partition: 'aws', bucket: 'archives', prefix: PREFIX });
      for (const s of p.Statement) {
        for (const a of s.Action) assert.doesNotMatch(a, /\*|List/);
        for (const r of s.Resource) {
          assert.ok(r.startsWith(`arn:aws:s3:::archives/${PREFIX}/`), r);
          assert.equal(r.indexOf('*'), r.length - 1, `${r}: one wildcard, at the end`);
        }
      }
    }
  });

  test('refuses a prefix or bucket that would widen the grant', () => {
    for (const prefix of [
      '',
      'prod/*',
      'prod/',
      '/prod',
      'prod/../other',
      'prod//x',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: an IAM policy variable, not a JavaScript one
      'prod/${aws:username}',
      'a?b',
    ])
      assert.throws(
        () => archiveSessionPolicy({ operation: 'restore', partition: 'aws', bucket: 'archives', prefix }),
        /plain key path/,
        JSON.stringify(prefix),
      );
    assert.throws(
      () => archiveSessionPolicy({ operation: 'restore', partition: 'aws', bucket: '*', prefix: PREFIX }),
      /bucket/,
    );
    assert.throws(
      () =>
        archiveSessionPolicy({
          operation: 'restore',
          partition: 'aws',
          bucket: 'archives',
          prefix: PREFIX,
          kmsKeyArn: 'arn:aws:kms:*:111122223333:key/*',
        }),
      /KMS key ARN/,
    );
  });

  test('the session lasts the operation and a minute, within what STS allows', () => {
    assert.equal(sessionSeconds(1_000 + 120_000, 1_000), 900);
    assert.equal(sessionSeconds(1_000 + 1_200_000, 1_000), 1260);
    assert.equal(sessionSeconds(1_000 + 86_400_000, 1_000), 3600);
  });

  test('the session is named for CloudTrail by operation and node, in the characters STS accepts', () => {
    assert.equal(
      sessionName('restore', 'ip-10-0-1-23.eu-west-1.compute.internal'),
      'spot-rescue-restore-ip-10-0-1-23.eu-west-1.compute.internal',
    );
    assert.ok(sessionName('checkpoint', 'x'.repeat(100)).length <= 64);
    assert.equal(partitionOf('arn:aws-us-gov:iam::111122223333:role/archive'), 'aws-us-gov');
  });
});
