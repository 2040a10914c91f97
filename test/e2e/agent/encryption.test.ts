import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { Manifest, RestoreResponse } from '../../../services/common/agent-api.js';
import { archiveDigests } from '../../../services/common/agent-api.js';
import { AgentBed, type AgentProcess, call } from '../../support/agent-bed.js';
import { stackEnv, waitFor } from '../../support/stack.js';

/**
 * One call to moto's KMS (JSON protocol). moto serves KMS on the same port
 * as S3, routes a request by the service named in its credential scope and
 * does not check signatures, so a plain fetch does: @aws-sdk/client-kms is
 * not a dependency of the project, and two calls in a test do not make one.
 */
async function kms(action: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
  const { awsEndpoint, awsRegion } = stackEnv();
  const day = new Date().toISOString().slice(0, 10).replaceAll('-', '');
  const res = await fetch(`${awsEndpoint}/`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': `TrentService.${action}`,
      authorization: `AWS4-HMAC-SHA256 Credential=${process.env['AWS_ACCESS_KEY_ID'] ?? 'testing'}/${day}/${awsRegion}/kms/aws4_request, SignedHeaders=host, Signature=0`,
    },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`KMS ${action}: ${res.status} ${text}`);
  return JSON.parse(text) as Record<string, unknown>;
}

describe('agent: archives and manifest stored with SSE-KMS', () => {
  const bed = new AgentBed();
  const { s3 } = bed;
  let a: AgentProcess;
  let b: AgentProcess;
  let keyId: string;
  let keyArn: string;

  before(async () => {
    await bed.setUp();
    const created = await kms('CreateKey', { Description: `spot-rescue e2e ${bed.bucket}` });
    const meta = created['KeyMetadata'] as { KeyId: string; Arn: string };
    keyId = meta.KeyId;
    keyArn = meta.Arn;
    // As the chart configures every agent when s3.kmsKeyId is set.
    const env = {
      SPOT_RESCUE_AGENT_SSE: 'aws:kms',
      SPOT_RESCUE_AGENT_SSE_KMS_KEY_ID: keyArn,
      // 5 MiB parts: the archive goes up as a multipart upload, the manifest as one PutObject.
      SPOT_RESCUE_AGENT_PART_SIZE_MIB: '5',
    };
    [a, b] = await Promise.all([bed.startAgent('e2e-kms-a', env), bed.startAgent('e2e-kms-b', env)]);
  });

  after(async () => {
    await bed.close();
    if (keyId) await kms('ScheduleKeyDeletion', { KeyId: keyId, PendingWindowInDays: 7 }).catch(() => {});
  });

  test('every archive and the manifest carry aws:kms with the configured key, and restore from them', async () => {
    const podUid = await bed.startCounter(a, 'sealed', { container: 'counter', mib: 96, memoryMiB: 224 });
    await bed.waitSwept(a, 'sealed', 'counter');
    const checkpointId = `cp-${randomUUID().slice(0, 8)}`;
    const req = bed.checkpointRequest('sealed', podUid, {
      container: 'counter',
      checkpointId,
      deadlineMs: 90_000,
    });
    const res = await call<Manifest>(a, 'POST', '/v1/checkpoints', bed.ids.workerToken, req);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const manifest = res.body;
    const archive = manifest.containers[0]!;
    assert.ok(
      archive.bytesCompressed > 5 * 1024 * 1024,
      `archive spans parts: ${archive.bytesCompressed} bytes`,
    );

    // moto 5.2.5 keeps the SSE headers of PutObject and CreateMultipartUpload
    // and echoes them on HeadObject exactly as sent (it does not look the key
    // up); real S3 answers with the key's ARN. The agents are configured with
    // the ARN, so this assertion means the same against both.
    const objects = [...manifest.containers.map((c) => c.key), `${req.s3.prefix}/manifest.json`];
    for (const key of objects) {
      const head = await s3.send(new HeadObjectCommand({ Bucket: bed.bucket, Key: key }));
      assert.equal(head.ServerSideEncryption, 'aws:kms', key);
      assert.equal(head.SSEKMSKeyId, keyArn, key);
    }
    const archiveHead = await s3.send(new HeadObjectCommand({ Bucket: bed.bucket, Key: archive.key }));
    assert.match(archiveHead.ETag ?? '', /-\d+"?$/, 'the archive was stored by a multipart upload');
    assert.equal(archiveHead.ContentLength, archive.bytesCompressed);

    // The encryption is the agent's request, not a default of the bucket.
    const controlKey = `${req.s3.prefix}-control`;
    await s3.send(new PutObjectCommand({ Bucket: bed.bucket, Key: controlKey, Body: 'x' }));
    const control = await s3.send(new HeadObjectCommand({ Bucket: bed.bucket, Key: controlKey }));
    assert.notEqual(control.ServerSideEncryption, 'aws:kms');
    assert.equal(control.SSEKMSKeyId, undefined);

    // Reading SSE-KMS objects needs no request headers, only kms:Decrypt on the key, which moto does
    // not enforce (the Terraform module grants it); this shows the restore path is unchanged by SSE.
    const atCheckpoint = (await bed.progress(a, 'sealed', 'counter'))?.values;
    assert.ok(atCheckpoint);
    const restored = await call<RestoreResponse>(b, 'POST', '/v1/restores', bed.ids.workerToken, {
      archives: archiveDigests(res.body),
      manifest: { bucket: bed.bucket, key: `${req.s3.prefix}/manifest.json` },
      target: { namespace: bed.ids.namespace, pod: 'sealed-restored' },
    });
    assert.equal(restored.status, 200, JSON.stringify(restored.body));
    bed.track(b, 'sealed-restored', 'counter');
    const afterRestore = await waitFor(
      'the restored counter to run on past its checkpointed value',
      async () => {
        const p = (await bed.progress(b, 'sealed-restored', 'counter'))?.values;
        return p && p['counter']! > atCheckpoint['counter']! + 20 ? p : undefined;
      },
    );
    assert.equal(afterRestore['corrupt'], 0, 'the memory pattern survived');
    assert.equal(afterRestore['mib'], 96);
  });
});
