import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { S3ArchiveStore } from '../../../services/agent/archive-store.js';
import { CheckpointRestore } from '../../../services/agent/checkpoint-restore.js';
import { ContainerOperations } from '../../../services/agent/container-operations.js';
import { AgentFailure } from '../../../services/agent/errors.js';
import { AgentMetrics } from '../../../services/agent/metrics.js';
import { NodeLayout, runcIdOf } from '../../../services/agent/node-layout.js';
import { run } from '../../../services/agent/process.js';
import {
  CONTAINERD_CHECKPOINT_ANNOTATION,
  CRIO_CHECKPOINT_ANNOTATION,
} from '../../../services/agent/runtimes/kubelet/checkpoint-image.js';
import { CgroupFreezer } from '../../../services/agent/runtimes/kubelet/container-freezer.js';
import { FrozenContainers } from '../../../services/agent/runtimes/kubelet/frozen-containers.js';
import { OciDirImporter } from '../../../services/agent/runtimes/kubelet/image-importer.js';
import { KubeletClient } from '../../../services/agent/runtimes/kubelet/kubelet-client.js';
import {
  type ContainerIdResolver,
  KubeletRuntime,
} from '../../../services/agent/runtimes/kubelet/kubelet-runtime.js';
import { LocalContainers, parseProgress } from '../../../services/agent/runtimes/runc/local-containers.js';
import { Runc } from '../../../services/agent/runtimes/runc/runc-cli.js';
import { RuncRuntime } from '../../../services/agent/runtimes/runc/runc-runtime.js';
import { archiveDigests } from '../../../services/common/agent-api.js';
import { createLogger } from '../../../services/common/logger.js';
import { createMetricsRegistry } from '../../../services/common/metrics.js';
import { removeNodeState } from '../../support/agent-bed.js';
import { createBucket, deleteBucket, s3Client } from '../../support/buckets.js';
import { uidFor } from '../../support/kube-uid.js';
import { stackEnv, waitFor } from '../../support/stack.js';
import { selfSignedCert } from '../../support/tls.js';

/**
 * The kubelet runtime against a kubelet stand-in that answers as a real
 * kubelet does (recorded responses, over TLS), with a real checkpoint
 * archive made by the runc runtime, and a real cgroup to freeze.
 */
describe('kubelet runtime', () => {
  const env = stackEnv();
  const s3 = s3Client();
  const node = `e2e-k-${randomUUID().slice(0, 6)}`;
  const namespace = 'shop';
  const layout = new NodeLayout(env.stateDir, node);
  const runc = new Runc(env.runc, layout.runcRoot, env.criu);
  const containers = new LocalContainers(layout, runc, env.rootfs);
  let dir: string;
  let checkpointsDir: string;
  let archiveName: string;
  let kubelet: FastifyInstance;
  let kubeletUrl: string;
  let ca: Buffer;
  let bucket: string;
  const requests: { url: string; method: string; authorization?: string | undefined }[] = [];
  let answer: { status: number; body: unknown } = { status: 200, body: {} };
  // The container the kubelet "checkpointed": it keeps running, as after a real kubelet checkpoint.
  const liveId = runcIdOf(namespace, 'cart-0', 'app');
  const resolver: ContainerIdResolver = { containerId: async () => liveId };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kubelet-runtime-'));
    checkpointsDir = join(dir, 'checkpoints');
    await mkdir(checkpointsDir);
    bucket = await createBucket(s3);
    frozen = new FrozenContainers(join(dir, 'frozen-containers.json'));

    // A real checkpoint archive, from the runc runtime, in the kubelet's file name format.
    await containers.start(
      {
        namespace,
        pod: 'donor',
        podUid: uidFor('donor'),
        container: 'app',
        args: ['/usr/local/bin/counter', '16', '/state/progress'],
      },
      node,
    );
    const runtime = new RuncRuntime({
      node,
      layout,
      runc,
      containers,
      baseRootfs: env.rootfs,
      tarBin: 'tar',
    });
    const cp = await runtime.checkpoint(
      { namespace, pod: 'donor', podUid: uidFor('donor'), container: 'app' },
      'donor-cp',
      new AbortController().signal,
    );
    archiveName = `checkpoint-cart-0_${namespace}-app-2026-11-24T12:00:00Z.tar`;
    const archive = cp.input();
    await Promise.all([
      pipeline(archive.stdin as Readable, createWriteStream(join(checkpointsDir, archiveName))),
      archive.done,
    ]);
    await cp.commit();

    await containers.start(
      {
        namespace,
        pod: 'cart-0',
        podUid: uidFor('cart-0'),
        container: 'app',
        args: ['/usr/local/bin/counter', '16', '/state/progress'],
      },
      node,
    );

    await selfSignedCert(dir, 'kubelet', '/CN=127.0.0.1', 'IP:127.0.0.1');
    ca = await readFile(join(dir, 'kubelet.crt'));
    await writeFile(join(dir, 'token'), 'agent-token-123\n');
    kubelet = Fastify({
      https: { key: await readFile(join(dir, 'kubelet.key')), cert: ca },
    }) as unknown as FastifyInstance;
    kubelet.post('/checkpoint/:ns/:pod/:container', async (req, reply) => {
      requests.push({ url: req.url, method: req.method, authorization: req.headers.authorization });
      return reply.code(answer.status).send(answer.body);
    });
    await kubelet.listen({ host: '127.0.0.1', port: 0 });
    const addr = kubelet.server.address();
    kubeletUrl = `https://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  });

  after(async () => {
    await kubelet?.close();
    await containers.remove(namespace, 'cart-0', 'app').catch(() => {});
    await containers.remove(namespace, 'donor', 'app').catch(() => {});
    await removeNodeState(node);
    await rm(dir, { recursive: true, force: true });
    await deleteBucket(s3, bucket);
  });

  const operations = new ContainerOperations();
  let frozen: FrozenContainers;

  function kubeletRuntime() {
    return new KubeletRuntime({
      client: new KubeletClient({ url: kubeletUrl, ca, tokenFile: join(dir, 'token') }),
      freezer: new CgroupFreezer('/sys/fs/cgroup'),
      containerIds: resolver,
      checkpointsDir,
      layout,
      importer: async () => new OciDirImporter(layout.imagesDir),
      imageRepository: 'localhost/spot-rescue/checkpoint',
      criu: env.criu,
      frozen,
      operations,
    });
  }

  async function counterOf(pod: string): Promise<number> {
    const s = await containers.status(namespace, pod, 'app');
    return parseProgress(s.progress ?? '')['counter'] ?? -1;
  }

  test('kubelet refusals come back as clear errors', async () => {
    const runtime = kubeletRuntime();
    const ref = { namespace, pod: 'cart-0', podUid: uidFor('cart-0'), container: 'app' };
    const signal = new AbortController().signal;
    answer = {
      status: 403,
      body: 'Forbidden (user=system:serviceaccount:spot-rescue:agent, verb=create, resource=nodes, subresource=checkpoint)',
    };
    await assert.rejects(
      runtime.checkpoint(ref, 'cp-x', signal),
      (e: unknown) => e instanceof AgentFailure && /nodes\/checkpoint/.test(e.message),
    );
    answer = { status: 404, body: 'container "app" not found in pod "cart-0"' };
    await assert.rejects(
      runtime.checkpoint(ref, 'cp-x', signal),
      (e: unknown) => e instanceof AgentFailure && e.code === 'not-found',
    );
    answer = {
      status: 500,
      body: 'checkpointing of shop/cart-0/app failed (rpc error: code = Unimplemented desc = unknown method CheckpointContainer)',
    };
    await assert.rejects(runtime.checkpoint(ref, 'cp-x', signal), /CheckpointContainer/);
  });

  test('checkpoint: asks the kubelet, freezes the source, streams the archive to S3; restore: verified image with both annotations', async () => {
    answer = { status: 200, body: { items: [`/var/lib/kubelet/checkpoints/${archiveName}`] } };
    const archiveSize = (await stat(join(checkpointsDir, archiveName))).size;
    const archiveSha = createHash('sha256')
      .update(await readFile(join(checkpointsDir, archiveName)))
      .digest('hex');
    const registry = createMetricsRegistry('agent-test', false);
    const service = new CheckpointRestore({
      cluster: 'local',
      node,
      runtime: kubeletRuntime(),
      store: new S3ArchiveStore(s3, { partSizeBytes: 5 * 1024 * 1024, queueSize: 2, sse: 'none' }),
      zstd: { bin: 'zstd', level: 1, threads: 0 },
      metrics: new AgentMetrics(registry),
      log: createLogger('agent-test', 'silent'),
    });
    await waitFor('the live container to count', async () => (await counterOf('cart-0')) > 5);
    const prefix = `local/${namespace}/cart-0/cart-uid/cp-k1`;
    const manifest = await service.checkpoint({
      namespace,
      pod: 'cart-0',
      podUid: uidFor('cart-0'),
      containers: ['app'],
      checkpointId: 'cp-k1',
      deadline: new Date(Date.now() + 60_000).toISOString(),
      s3: { bucket, prefix },
    });
    const last = requests.at(-1)!;
    assert.match(last.url, /^\/checkpoint\/shop\/cart-0\/app\?timeout=(5\d|60)$/);
    assert.equal(last.authorization, 'Bearer agent-token-123');
    assert.equal(manifest.runtime, 'kubelet');
    assert.equal(manifest.containers[0]!.bytesRaw, archiveSize);
    // The archive held memory: it is gone from the node once in S3.
    assert.deepEqual(await readdir(checkpointsDir), []);

    // The source is frozen: its counter no longer moves.
    assert.equal(await new CgroupFreezer('/sys/fs/cgroup').isFrozen(liveId), true);
    const frozenAt = await counterOf('cart-0');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await counterOf('cart-0'), frozenAt);

    const restored = await service.restore({
      manifest: { bucket, key: `${prefix}/manifest.json` },
      archives: archiveDigests(manifest),
      target: { namespace, pod: 'cart-0-restored' },
    });
    const image = restored.containers[0]!.image!;
    assert.equal(image, 'localhost/spot-rescue/checkpoint:shop-cart-0-restored-app-cp-k1');
    const imageDir = join(layout.imagesDir, image.replace(/[/:]/g, '_'));
    const index = JSON.parse(await readFile(join(imageDir, 'index.json'), 'utf8'));
    assert.equal(index.manifests[0].annotations[CONTAINERD_CHECKPOINT_ANNOTATION], 'app');
    const manifestDigest = (index.manifests[0].digest as string).slice(7);
    const ociManifest = JSON.parse(await readFile(join(imageDir, 'blobs', 'sha256', manifestDigest), 'utf8'));
    assert.equal(ociManifest.annotations[CRIO_CHECKPOINT_ANNOTATION], 'app');
    // The layer is the kubelet's archive, byte for byte.
    assert.equal(ociManifest.layers[0].digest, `sha256:${archiveSha}`);
    const layerHash = createHash('sha256');
    await pipeline(createReadStream(join(imageDir, 'blobs', 'sha256', archiveSha)), layerHash);
    assert.equal(layerHash.digest('hex'), archiveSha);
    const listing = await run('tar', ['-tf', join(imageDir, 'blobs', 'sha256', archiveSha)]);
    for (const member of ['checkpoint/', 'config.dump', 'spec.dump', 'rootfs-diff.tar']) {
      assert.ok(listing.split('\n').includes(member), `layer holds ${member}`);
    }
  });

  test('a failed upload thaws the source and drops the archive', async () => {
    await new CgroupFreezer('/sys/fs/cgroup').thaw(liveId);
    await writeFile(join(checkpointsDir, archiveName), 'a kubelet archive');
    answer = { status: 200, body: { items: [`/var/lib/kubelet/checkpoints/${archiveName}`] } };
    const runtime = kubeletRuntime();
    const cp = await runtime.checkpoint(
      { namespace, pod: 'cart-0', podUid: uidFor('cart-0'), container: 'app' },
      'cp-k2',
      new AbortController().signal,
    );
    assert.equal(await new CgroupFreezer('/sys/fs/cgroup').isFrozen(liveId), true);
    await cp.rollback();
    assert.equal(await new CgroupFreezer('/sys/fs/cgroup').isFrozen(liveId), false);
    const before = await counterOf('cart-0');
    await waitFor('the thawed container to count on', async () => (await counterOf('cart-0')) > before);
    assert.deepEqual(await readdir(checkpointsDir), []);
  });
});
