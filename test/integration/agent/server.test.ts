import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import type { RunningAgent } from '../../../services/agent/service.js';
import { nodeCapabilitiesSchema, releaseResponseSchema } from '../../../services/common/agent-api.js';
import {
  AgentBed,
  bearer,
  type CallerToken,
  type Identities,
  startInProcessAgent,
} from '../../support/agent-bed.js';
import { uidFor } from '../../support/kube-uid.js';
import { selfSignedCert } from '../../support/tls.js';

/** The agent's server over TLS, against the real API server (TokenReview) and S3: no checkpoint involved. */
describe('agent server', () => {
  const bed = new AgentBed();
  const s3 = bed.s3;
  const node = `it-agent-${randomUUID().slice(0, 6)}`;
  let dir: string;
  let ca: Buffer;
  let ids: Identities;
  let bucket: string;
  let agent: RunningAgent;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'agent-tls-'));
    await selfSignedCert(dir, 'tls', '/CN=127.0.0.1', 'IP:127.0.0.1');
    ca = await readFile(join(dir, 'tls.crt'));
    await bed.setUp();
    ({ ids, bucket } = bed);
    agent = await startInProcessAgent(node, ids.allowedSa, {
      SPOT_RESCUE_AGENT_TLS_CERT_FILE: join(dir, 'tls.crt'),
      SPOT_RESCUE_AGENT_TLS_KEY_FILE: join(dir, 'tls.key'),
    });
  });

  after(async () => {
    await agent?.close();
    await bed.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function call(method: string, path: string, token?: CallerToken, body?: unknown) {
    const resolved = token === undefined ? undefined : await bearer(token, node);
    return new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(
        new URL(path, agent.url),
        {
          method,
          ca,
          headers: {
            ...(resolved ? { authorization: `Bearer ${resolved}` } : {}),
            ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => {
            text += d;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        },
      );
      req.on('error', reject);
      req.end(body !== undefined ? JSON.stringify(body) : undefined);
    });
  }

  test('serves HTTPS with the configured certificate', async () => {
    assert.match(agent.url, /^https:\/\//);
    const r = await call('GET', '/healthz');
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.text).node, node);
  });

  test('is ready when CRIU passes its check, and says what the node can do', async () => {
    const r = await call('GET', '/readyz');
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(JSON.parse(r.text).checks, {
      runtime: 'ok',
      checkpoint: 'ok',
      restore: 'ok',
      containerRuntime: 'runc local',
    });
  });

  test("serves the node's capabilities to the worker only", async () => {
    assert.equal((await call('GET', '/v1/capabilities')).status, 401);
    assert.equal((await call('GET', '/v1/capabilities', ids.strangerToken)).status, 403);
    const r = await call('GET', '/v1/capabilities', ids.workerToken);
    assert.equal(r.status, 200, r.text);
    const caps = nodeCapabilitiesSchema.parse(JSON.parse(r.text));
    assert.equal(caps.node, node);
    assert.deepEqual(caps.runtime, { name: 'runc', version: 'local' });
    assert.equal(caps.criu.found, true);
    assert.match(caps.criu.version ?? '', /^4\./);
    assert.deepEqual([caps.checkpoint, caps.restore], [{ ok: true }, { ok: true }]);
  });

  test('a release of a container nothing froze is a no-op, answered the same way every time', async () => {
    const release = {
      namespace: 'shop',
      pod: 'cart-0',
      podUid: uidFor('u'),
      containers: ['app'],
      checkpointId: 'cp-1',
    };
    for (let i = 0; i < 2; i++) {
      const r = await call('POST', '/v1/releases', ids.workerToken, release);
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(releaseResponseSchema.parse(JSON.parse(r.text)), { thawed: [] });
    }
    const bad = await call('POST', '/v1/releases', ids.workerToken, { ...release, containers: [] });
    assert.equal(bad.status, 400);
    assert.equal((await call('POST', '/v1/releases', ids.strangerToken, release)).status, 403);
  });

  test('exposes its metrics', async () => {
    const r = await call('GET', '/metrics');
    assert.equal(r.status, 200);
    assert.match(r.text, /# TYPE spot_rescue_stage_duration_seconds histogram/);
  });

  test('validates requests from the worker and names what is wrong', async () => {
    const bad = await call('POST', '/v1/checkpoints', ids.workerToken, {
      namespace: 'shop',
      pod: 'cart-0',
      podUid: uidFor('u'),
      containers: [],
      checkpointId: 'Not_Valid',
      deadline: 'tomorrow',
      s3: { bucket, prefix: 'x' },
    });
    assert.equal(bad.status, 400);
    const body = JSON.parse(bad.text);
    assert.equal(body.error, 'bad-request');
    for (const field of ['containers', 'checkpointId', 'deadline'])
      assert.match(body.message, new RegExp(field));
  });

  test('a restore from a missing manifest is not-found, from a broken one bad-request', async () => {
    const restoreFrom = (manifestKey: string) =>
      call('POST', '/v1/restores', ids.workerToken, {
        archives: [
          { name: 'app', key: 'none/app.tar.zst', bytesRaw: 1, bytesCompressed: 1, sha256: '0'.repeat(64) },
        ],
        manifest: { bucket, key: manifestKey },
        target: { namespace: 'shop', pod: 'cart-0' },
      });
    const missing = await restoreFrom('nothing/here/manifest.json');
    assert.equal(missing.status, 404, missing.text);
    assert.equal(JSON.parse(missing.text).error, 'not-found');

    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: 'broken/manifest.json',
        Body: JSON.stringify({ version: 2 }),
      }),
    );
    const broken = await restoreFrom('broken/manifest.json');
    assert.equal(broken.status, 400, broken.text);
    assert.match(JSON.parse(broken.text).message, /not a valid manifest/);
  });

  test('checkpointing a container this node does not run is not-found, and nothing is stored', async () => {
    const r = await call('POST', '/v1/checkpoints', ids.workerToken, {
      namespace: 'shop',
      pod: 'ghost',
      podUid: uidFor('u'),
      containers: ['app'],
      checkpointId: 'cp-ghost',
      deadline: new Date(Date.now() + 30_000).toISOString(),
      s3: { bucket, prefix: 'ghost' },
    });
    assert.equal(r.status, 404, r.text);
    assert.equal(JSON.parse(r.text).error, 'not-found');
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'ghost' }));
    assert.deepEqual(listed.Contents ?? [], []);
  });
});
