import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ArchiveDigest } from '../../../services/common/agent-api.js';
import {
  type AgentProcess,
  call,
  createIdentities,
  type Identities,
  removeNodeState,
  startAgentProcess,
} from '../../support/agent-bed.js';
import { createBucket, deleteBucket, s3Client } from '../../support/buckets.js';
import { uidFor } from '../../support/kube-uid.js';
import { stackEnv } from '../../support/stack.js';
import { storeCheckpoint } from '../../support/stored-checkpoint.js';

/**
 * Names and archive entries from outside the agent never reach a path
 * outside its node's directories, against a real agent (runc runtime), the
 * API server (TokenReview) and the stack's S3 (moto). The victim is another
 * simulated node's directory beside this one's: what a traversal from this
 * node's work dir reaches first.
 */
describe('agent: names and archive entries stay inside the node', () => {
  const s3 = s3Client();
  const node = `it-names-${randomUUID().slice(0, 6)}`;
  const victimNode = `it-victim-${randomUUID().slice(0, 6)}`;
  const victimDir = join(stackEnv().stateDir, 'nodes', victimNode);
  const victimFile = join(victimDir, 'keep');
  let ids: Identities;
  let bucket: string;
  let agent: AgentProcess;
  let scratch: string;

  before(async () => {
    ids = await createIdentities();
    bucket = await createBucket(s3);
    agent = await startAgentProcess(node, ids.allowedSa);
    scratch = await mkdtemp(join(tmpdir(), 'untrusted-names-'));
  });

  after(async () => {
    await agent?.stop();
    await removeNodeState(victimNode);
    await deleteBucket(s3, bucket);
    await ids?.cleanup();
    await rm(scratch, { recursive: true, force: true });
  });

  /** A file the traversals below aim at, fresh for each test. */
  async function plantVictim(): Promise<void> {
    await mkdir(victimDir, { recursive: true });
    await writeFile(victimFile, 'still here');
  }
  const victimSurvived = () => readFile(victimFile, 'utf8').then((t) => t === 'still here');

  test('a caller without a token is refused before its body is read, however malformed', async () => {
    const raw = await fetch(`${agent.url}/v1/restores`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"manifest": not json at all',
    });
    assert.equal(raw.status, 401);
    assert.equal(((await raw.json()) as { error: string }).error, 'unauthenticated');

    const stranger = await call(agent, 'POST', '/v1/releases', ids.strangerToken, {
      namespace: '../..',
      pod: 'p',
      podUid: 'x',
      containers: ['/../../x'],
      checkpointId: 'Not_Valid',
    });
    // Not 400: a stranger learns nothing of what the agent would have made of its body.
    assert.equal(stranger.status, 403, JSON.stringify(stranger.body));
  });

  test('a release naming a container `../../../../<dir>` is refused and removes nothing', async () => {
    await plantVictim();
    // From <node>/work/checkpoints/<checkpoint>/ four levels up is the nodes directory.
    const r = await call(agent, 'POST', '/v1/releases', ids.workerToken, {
      namespace: ids.namespace,
      pod: 'p',
      podUid: uidFor('p'),
      containers: [`../../../../${victimNode}`],
      checkpointId: 'ck-escape',
    });
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.equal(r.body['error'], 'bad-request');
    assert.match(String(r.body['message']), /containers\.0: a container name is a DNS-1123 label/);
    assert.ok(await victimSurvived(), 'the other node’s directory is untouched');
  });

  test('a checkpoint of container `/../../x` or pod `..` is refused, naming the field', async () => {
    const r = await call(agent, 'POST', '/v1/checkpoints', ids.workerToken, {
      namespace: ids.namespace,
      pod: '..',
      podUid: uidFor('p'),
      containers: ['/../../x'],
      checkpointId: 'ck-escape',
      deadline: new Date(Date.now() + 30_000).toISOString(),
      s3: { bucket, prefix: 'escape' },
    });
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.match(String(r.body['message']), /pod: a pod name is a DNS-1123 subdomain/);
    assert.match(String(r.body['message']), /containers\.0: a container name is a DNS-1123 label/);
  });

  test('a local container named with an encoded `../` in its URL is refused and removes nothing', async () => {
    await plantVictim();
    // Parameters arrive decoded: this container parameter is `x/../../../<victim node>`.
    const path = `/v1/local/containers/${ids.namespace}/p/x%2F..%2F..%2F..%2F${victimNode}`;
    const del = await call(agent, 'DELETE', path, ids.workerToken);
    assert.equal(del.status, 400, JSON.stringify(del.body));
    assert.match(String(del.body['message']), /container: a container name is a DNS-1123 label/);
    const get = await call(agent, 'GET', path, ids.workerToken);
    assert.equal(get.status, 400, JSON.stringify(get.body));
    assert.ok(await victimSurvived());
  });

  /**
   * A checkpoint archive in the runc runtime's layout, stored with its
   * manifest; the digest is what a (lying) source agent would have answered.
   */
  async function storedArchive(
    name: string,
    deletedFiles: unknown,
    rootfsDiff: (dir: string) => Promise<void>,
  ): Promise<{ prefix: string; digest: ArchiveDigest }> {
    const dir = join(scratch, name);
    const diffDir = join(scratch, `${name}-rootfs`);
    await mkdir(join(dir, 'checkpoint'), { recursive: true });
    await mkdir(diffDir, { recursive: true });
    await writeFile(join(dir, 'checkpoint', 'inventory.img'), 'not a real image');
    await writeFile(join(dir, 'config.dump'), JSON.stringify({ id: 'x', name: 'app' }));
    await writeFile(join(dir, 'spec.dump'), JSON.stringify({ ociVersion: '1.0.2' }));
    await writeFile(join(dir, 'deleted.files'), JSON.stringify(deletedFiles));
    await rootfsDiff(diffDir);
    execFileSync('tar', ['-C', diffDir, '-cf', join(dir, 'rootfs-diff.tar'), '.']);
    const tar = execFileSync('tar', [
      '-C',
      dir,
      '-cf',
      '-',
      'checkpoint',
      'config.dump',
      'spec.dump',
      'rootfs-diff.tar',
      'deleted.files',
    ]);
    const archive = execFileSync('zstd', ['-q', '-c'], { input: tar });
    const prefix = `it/${randomUUID().slice(0, 8)}/${name}`;
    const digest = await storeCheckpoint(s3, {
      bucket,
      prefix,
      namespace: ids.namespace,
      archive,
      bytesRaw: tar.length,
    });
    return { prefix, digest };
  }

  const restore = (prefix: string, digest: ArchiveDigest, pod: string) =>
    call(agent, 'POST', '/v1/restores', ids.workerToken, {
      manifest: { bucket, key: `${prefix}/manifest.json` },
      archives: [digest],
      target: { namespace: ids.namespace, pod },
    });

  test('a deleted.files entry `../../../../../<dir>/keep` is refused and deletes nothing', async () => {
    await plantVictim();
    // From <node>/containers/<id>/bundle/rootfs five levels up is the nodes directory.
    const { prefix, digest } = await storedArchive(
      'ck-deleted-dots',
      [`../../../../../${victimNode}/keep`],
      async () => {},
    );
    const r = await restore(prefix, digest, 'dots');
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.equal(r.body['error'], 'bad-request');
    assert.match(String(r.body['message']), /leads outside rootfs\//);
    assert.ok(await victimSurvived(), 'the other node’s file is still there');
  });

  test('a deleted.files entry through a link the rootfs diff made is refused and deletes nothing', async () => {
    await plantVictim();
    const { prefix, digest } = await storedArchive('ck-deleted-link', ['esc/keep'], async (diffDir) => {
      await symlink(victimDir, join(diffDir, 'esc'));
    });
    const r = await restore(prefix, digest, 'link');
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.match(String(r.body['message']), /"esc\/keep" leads outside/);
    assert.ok(await victimSurvived(), 'the link was not followed');
  });
});
