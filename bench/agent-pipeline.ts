/**
 * Agent pipeline benchmark: a counter workload holding 64 MiB, 512 MiB and
 * 2 GiB is moved between two simulated nodes by the agent's streamed
 * pipeline (CRIU dump -> tar -> zstd -> sha256 -> S3 multipart, then S3 ->
 * sha256 -> zstd -d -> tar -x -> CRIU restore), and, as the floor measured in
 * the same run, by the plainest sequential path: CRIU dump to tmpfs, a plain
 * S3 PUT of each raw image file, a GET of each, CRIU restore.
 *
 *   eval "$(infra/stack env)"; node --import tsx bench/agent-pipeline.ts [--sizes 64,512,2048] [--json out/agent-pipeline.json]
 *
 * Prints per-stage times, bytes raw/compressed, the freeze (checkpoint start
 * to restored-and-running) and the pipeline/floor ratio; writes the figures
 * as JSON. Everything it creates (containers, bucket, scratch) is removed.
 */

import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, mkdirSync, writeFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { createAgentS3Client } from '../services/agent/agent-s3-client.js';
import { S3ArchiveStore } from '../services/agent/archive-store.js';
import { CheckpointRestore } from '../services/agent/checkpoint-restore.js';
import { AgentMetrics } from '../services/agent/metrics.js';
import { NodeLayout, runcIdOf } from '../services/agent/node-layout.js';
import { LocalContainers, parseProgress } from '../services/agent/runtimes/runc/local-containers.js';
import { specForRestore } from '../services/agent/runtimes/runc/oci-spec.js';
import { Runc } from '../services/agent/runtimes/runc/runc-cli.js';
import { RuncRuntime } from '../services/agent/runtimes/runc/runc-runtime.js';
import { archiveDigests } from '../services/common/agent-api.js';
import { createLogger } from '../services/common/logger.js';
import { createMetricsRegistry } from '../services/common/metrics.js';
import { uidFor } from '../test/support/kube-uid.js';

const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string', default: '64,512,2048' },
    json: { type: 'string', default: 'out/agent-pipeline.json' },
    'part-size-mib': { type: 'string', default: '16' },
    'queue-size': { type: 'string', default: '4' },
    scratch: { type: 'string', default: '/dev/shm' },
  },
});
const SIZES = args.sizes!.split(',').map(Number);

const need = [
  'SPOT_RESCUE_AWS_ENDPOINT',
  'SPOT_RESCUE_STATE_DIR',
  'SPOT_RESCUE_RUNC',
  'SPOT_RESCUE_CRIU',
  'SPOT_RESCUE_ROOTFS',
];
for (const v of need) {
  if (!process.env[v]) throw new Error(`${v} is not set: run \`eval "$(infra/stack env)"\` first`);
}
const env = (k: string) => process.env[k]!;

const runId = `ab-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
// The agent's own client settings, for the pipeline and the floor alike.
const s3 = createAgentS3Client({
  awsRegion: process.env['AWS_REGION'] ?? 'us-east-1',
  awsEndpoint: env('SPOT_RESCUE_AWS_ENDPOINT'),
  requestTimeoutSeconds: 600,
});
const bucket = runId;
const scratch = join(args.scratch!, `spot-rescue-${runId}`);
const namespace = 'bench';

interface Node {
  name: string;
  layout: NodeLayout;
  runc: Runc;
  containers: LocalContainers;
  runtime: RuncRuntime;
  service: CheckpointRestore;
}

function makeNode(name: string): Node {
  const layout = new NodeLayout(env('SPOT_RESCUE_STATE_DIR'), name, scratch);
  const runc = new Runc(env('SPOT_RESCUE_RUNC'), layout.runcRoot, env('SPOT_RESCUE_CRIU'));
  const containers = new LocalContainers(layout, runc, env('SPOT_RESCUE_ROOTFS'));
  const runtime = new RuncRuntime({
    node: name,
    layout,
    runc,
    containers,
    baseRootfs: env('SPOT_RESCUE_ROOTFS'),
    tarBin: 'tar',
  });
  const service = new CheckpointRestore({
    cluster: 'bench',
    node: name,
    runtime,
    store: new S3ArchiveStore(s3, {
      partSizeBytes: Number(args['part-size-mib']) * 1024 * 1024,
      queueSize: Number(args['queue-size']),
      sse: 'none',
    }),
    zstd: { bin: 'zstd', level: 1, threads: 0 },
    metrics: new AgentMetrics(createMetricsRegistry(`bench-${name}`, false)),
    log: createLogger('agent-bench', 'warn'),
  });
  return { name, layout, runc, containers, runtime, service };
}

const src = makeNode(`${runId}-src`);
const dst = makeNode(`${runId}-dst`);

async function startCounter(pod: string, mib: number): Promise<void> {
  await src.containers.start(
    {
      namespace,
      pod,
      podUid: uidFor(pod),
      container: 'app',
      args: ['/usr/local/bin/counter', String(mib), '/state/progress'],
      memoryMiB: mib + 256,
    },
    src.name,
  );
  // Resident once the pattern is written and the first verification sweep ran.
  const end = Date.now() + 120_000;
  for (;;) {
    const s = await src.containers.status(namespace, pod, 'app');
    if ((parseProgress(s.progress ?? '')['sweeps'] ?? 0) >= 1) return;
    if (Date.now() > end) throw new Error(`${pod} did not start`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function isRunning(node: Node, pod: string): Promise<boolean> {
  return (await node.runc.state(runcIdOf(namespace, pod, 'app')))?.status === 'running';
}

const ms = (from: number) => Math.round(performance.now() - from);

async function streamed(mib: number) {
  const pod = `p${mib}`;
  await startCounter(pod, mib);
  const checkpointId = `cp-${mib}`;
  const prefix = `bench/${pod}/${checkpointId}`;
  const t0 = performance.now();
  const manifest = await src.service.checkpoint({
    namespace,
    pod,
    podUid: uidFor(pod),
    containers: ['app'],
    checkpointId,
    deadline: new Date(Date.now() + 600_000).toISOString(),
    s3: { bucket, prefix },
  });
  const checkpointAndUploadMs = ms(t0);
  const t1 = performance.now();
  const restored = await dst.service.restore({
    manifest: { bucket, key: `${prefix}/manifest.json` },
    archives: archiveDigests(manifest),
    target: { namespace, pod: `${pod}-r` },
  });
  const restoreTotalMs = ms(t1);
  const freezeMs = ms(t0);
  if (!(await isRunning(dst, `${pod}-r`))) throw new Error('restored container is not running');
  const progress = parseProgress((await dst.containers.status(namespace, `${pod}-r`, 'app')).progress ?? '');
  await src.containers.remove(namespace, pod, 'app');
  await dst.containers.remove(namespace, `${pod}-r`, 'app');
  const c = manifest.containers[0]!;
  return {
    stages: {
      dumpMs: c.timings.checkpointMs,
      compressUploadMs: c.timings.uploadMs,
      checkpointAndUploadMs,
      downloadVerifyUnpackMs: restored.containers[0]!.downloadMs,
      criuRestoreMs: restored.containers[0]!.restoreMs,
      restoreTotalMs,
    },
    bytesRaw: c.bytesRaw,
    bytesCompressed: c.bytesCompressed,
    compressionRatio: Math.round((c.bytesRaw / c.bytesCompressed) * 100) / 100,
    freezeMs,
    corruptAfterRestore: progress['corrupt'],
  };
}

async function floor(mib: number) {
  const pod = `f${mib}`;
  await startCounter(pod, mib);
  const id = runcIdOf(namespace, pod, 'app');
  const base = join(scratch, 'floor', pod);
  const dumpDir = join(base, 'dump');
  const fetchedDir = join(base, 'fetched');
  await mkdir(dumpDir, { recursive: true });
  await mkdir(fetchedDir, { recursive: true });
  const t0 = performance.now();
  await src.runc.checkpoint(
    id,
    dumpDir,
    join(base, 'dump-work'),
    join(base, 'dump.log'),
    new AbortController().signal,
  );
  const dumpMs = ms(t0);
  const files = await readdir(dumpDir);
  let bytes = 0;
  const t1 = performance.now();
  for (const f of files) {
    // One plain PUT per file, streamed from tmpfs.
    const size = (await stat(join(dumpDir, f))).size;
    bytes += size;
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: `floor/${pod}/${f}`,
        Body: createReadStream(join(dumpDir, f)),
        ContentLength: size,
      }),
    );
  }
  const putMs = ms(t1);
  // The raw dump is in S3 now; dropping it keeps the 2 GiB run within memory (scratch is tmpfs).
  await rm(dumpDir, { recursive: true, force: true });
  const t2 = performance.now();
  for (const f of files) {
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: `floor/${pod}/${f}` }));
    await pipeline(got.Body as Readable, createWriteStream(join(fetchedDir, f)));
  }
  const getMs = ms(t2);
  // The floor restores into a prepared bundle; bundle preparation is not counted.
  const targetPod = `${pod}-r`;
  const targetId = runcIdOf(namespace, targetPod, 'app');
  const bundle = dst.containers.bundleOf(targetId);
  await dst.containers.populateRootfs(bundle);
  const spec = JSON.parse(await readFile(join(src.containers.bundleOf(id), 'config.json'), 'utf8'));
  await writeFile(
    join(bundle, 'config.json'),
    JSON.stringify(
      specForRestore(
        spec,
        dst.containers.cgroupOf(targetId, dst.name),
        await dst.containers.criuConfigFile(),
      ),
    ),
  );
  const t3 = performance.now();
  await dst.runc.restoreDetached(
    targetId,
    bundle,
    fetchedDir,
    join(base, 'restore-work'),
    join(base, 'restore.log'),
  );
  const restoreMs = ms(t3);
  const totalMs = dumpMs + putMs + getMs + restoreMs;
  await dst.runc.remove(targetId);
  await src.containers.remove(namespace, pod, 'app');
  await rm(dst.layout.containerDir(targetId), { recursive: true, force: true });
  await rm(base, { recursive: true, force: true });
  for (const f of files) await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: `floor/${pod}/${f}` }));
  return { stages: { dumpMs, putMs, getMs, criuRestoreMs: restoreMs }, bytesRaw: bytes, totalMs };
}

async function cleanup() {
  for (const n of [src, dst]) {
    for (const id of await readdir(n.layout.containersDir).catch(() => []))
      await n.runc.remove(id).catch(() => {});
    await rm(n.layout.nodeDir, { recursive: true, force: true });
    for (const c of ['', ...(await readdir('/sys/fs/cgroup').catch(() => []))]) {
      await rmdir(join('/sys/fs/cgroup', c, 'spot-rescue', n.name)).catch(() => {});
    }
  }
  await rm(scratch, { recursive: true, force: true });
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket })).catch(() => undefined);
  for (const o of listed?.Contents ?? [])
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: o.Key! }));
  await s3.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => {});
}

const results: unknown[] = [];
try {
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  for (const mib of SIZES) {
    const s = await streamed(mib);
    console.log(
      `${String(mib).padStart(5)} MiB  streamed done, freeze ${s.freezeMs} ms; measuring the floor`,
    );
    const f = await floor(mib);
    const streamedTotalMs = s.stages.checkpointAndUploadMs + s.stages.restoreTotalMs;
    const r = {
      mib,
      streamed: { ...s, totalMs: streamedTotalMs },
      floor: f,
      streamedOverFloor: Math.round((streamedTotalMs / f.totalMs) * 100) / 100,
    };
    results.push(r);
    const mb = (b: number) => `${(b / 1024 / 1024).toFixed(0)} MiB`;
    console.log(
      `${String(mib).padStart(5)} MiB  streamed ${streamedTotalMs} ms (dump ${s.stages.dumpMs}, zstd+upload ${s.stages.compressUploadMs}, ` +
        `download+verify+unpack ${s.stages.downloadVerifyUnpackMs}, restore ${s.stages.criuRestoreMs}; freeze ${s.freezeMs} ms; ` +
        `${mb(s.bytesRaw)} -> ${mb(s.bytesCompressed)}, x${s.compressionRatio}; corrupt=${s.corruptAfterRestore})`,
    );
    console.log(
      `${' '.repeat(10)}floor    ${f.totalMs} ms (dump ${f.stages.dumpMs}, put ${f.stages.putMs}, get ${f.stages.getMs}, restore ${f.stages.criuRestoreMs}; ${mb(f.bytesRaw)})` +
        `  streamed/floor = ${r.streamedOverFloor}`,
    );
  }
} finally {
  await cleanup();
}
mkdirSync(dirname(args.json!), { recursive: true });
writeFileSync(
  args.json!,
  `${JSON.stringify({ runId, at: new Date().toISOString(), partSizeMiB: Number(args['part-size-mib']), queueSize: Number(args['queue-size']), results }, null, 2)}\n`,
);
console.log(`wrote ${args.json}`);
