import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { V1Pod } from '@kubernetes/client-node';
import { Command } from 'commander';
import type { SimNode } from '../infra/sim/cluster.js';
import { buildEvent } from '../infra/sim/events.js';
import { RealNodeBed } from '../infra/sim/real-node-bed.js';
import {
  clearInterruption,
  deployRescuable,
  optInNamespace,
  type RealRescue,
  startRealRescue,
} from '../infra/sim/real-node-rescue.js';
import { setUpRescueDemo } from '../infra/sim/rescue-demo-setup.js';
import type { LogLine, ServiceProcess } from '../infra/sim/service-process.js';
import { localStackClients } from '../infra/sim/stack-clients.js';
import { waitFor } from '../infra/sim/wait-for.js';
import { type Manifest, manifestSchema } from '../services/common/agent-api.js';
import { commonSettings, readConfig } from '../services/common/config.js';
import { RESTORED_FROM_ANNOTATION } from '../services/common/labels.js';

/**
 * The demo: a stateful process under runc on a Spot node of a simulated
 * three-node cluster gets a real-shaped "EC2 Spot Instance Interruption
 * Warning" through SQS, and spot-rescue moves it, memory and all, to another
 * node before the two minutes are up. Prints a timeline, writes it as JSON,
 * and exits non-zero unless the workload continued where it stopped.
 */

const program = new Command('demo')
  .option('--memory-mib <n>', 'memory the workload fills with its pattern', '512')
  .option('--json <path>', 'where to write the timeline as JSON')
  .option('--stay', 'keep the agents, listener and worker running after the verdict, until Ctrl-C')
  .option(
    '--real-nodes',
    "on the stack's real kubelet + containerd nodes: a Deployment's pod moved by the kubelet path (slower)",
  )
  .parse(process.argv);
const opts = program.opts<{ memoryMib: string; json?: string; stay?: boolean; realNodes?: boolean }>();

const cfg = readConfig(commonSettings);
const stateDir = process.env['SPOT_RESCUE_STATE_DIR'];
if (!stateDir || !cfg.awsEndpoint || !cfg.kubeconfig) {
  console.error('demo: the local stack environment is missing; run scripts/demo (it sets it up)');
  process.exit(2);
}
const demoDir = join(stateDir, 'demo');
const jsonPath = opts.json ?? join(demoDir, 'timeline.json');
const clients = localStackClients(cfg);
const { core, s3 } = clients;
const memoryMib = Number(opts.memoryMib);
const CLUSTER = 'demo';
const NAMESPACE = 'demo';
const BUCKET = 'spot-rescue-demo-archives';
const QUEUE = 'spot-rescue-demo';
const POD = 'counter';

interface Stage {
  stage: string;
  at: string;
  [k: string]: unknown;
}
const timeline: Stage[] = [];
const t0 = Date.now();
const fmtInt = (n: number) => n.toLocaleString('en-US');
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const mib = (b: number) => `${(b / 1024 / 1024).toFixed(0)} MiB`;

function say(stage: string, text: string, data: Record<string, unknown> = {}, at = new Date()) {
  timeline.push({ stage, at: at.toISOString(), ...data });
  const clock = `+${((at.getTime() - t0) / 1000).toFixed(1).padStart(5)}s`;
  console.log(`${clock}  ${text}`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function line(p: ServiceProcess, msg: string, timeoutMs = 130_000): Promise<LogLine> {
  return p.waitForLine((l) => l.msg === msg, timeoutMs);
}

function saySent(instanceId: string, deadline: number) {
  say('sent', `EC2 Spot Instance Interruption Warning for ${instanceId} sent to SQS`, {
    instanceId,
    deadline: new Date(deadline).toISOString(),
  });
}

/** The listener's part, each stage at its own log time: received, cordoned, enqueued. */
async function sayListenerStages(listener: ServiceProcess, node: string, deadline: number): Promise<void> {
  const acted = await line(listener, 'acting on event');
  const actedAt = new Date(String(acted.time));
  say(
    'received',
    `event received (warning left: ${secs(deadline - actedAt.getTime())})`,
    { warningLeftMs: deadline - actedAt.getTime() },
    actedAt,
  );
  const cordoned = await line(listener, 'node tainted and cordoned');
  say('cordoned', `node ${node} tainted and cordoned`, {}, new Date(String(cordoned.time)));
  const enqueued = await line(listener, 'jobs enqueued');
  say(
    'enqueued',
    `${enqueued['jobs']} jobs enqueued (${Date.parse(String(enqueued.time)) - actedAt.getTime()} ms after receipt)`,
    { jobs: enqueued['jobs'] },
    new Date(String(enqueued.time)),
  );
}

/**
 * The checkpoint and its upload, at the agent's own clock (the dump's end, the
 * upload overlapping it); returns when the upload completed.
 */
function sayArchive(manifest: Manifest, bucket: string, deadline: number, path: 'runc' | 'kubelet'): number {
  const archive = manifest.containers[0];
  if (!archive) throw new Error('the manifest lists no container');
  const uploadedAt = Date.parse(manifest.completedAt);
  say(
    'checkpoint',
    `${path === 'kubelet' ? 'kubelet checkpoint' : 'checkpoint'} (${mib(archive.bytesRaw)} -> ${mib(archive.bytesCompressed)} zstd, ` +
      `${secs(archive.timings.checkpointMs)}${path === 'kubelet' ? `, CRIU ${manifest.criuVersion}` : ''})`,
    {
      bytesRaw: archive.bytesRaw,
      bytesCompressed: archive.bytesCompressed,
      checkpointMs: archive.timings.checkpointMs,
    },
    new Date(Date.parse(manifest.createdAt) + archive.timings.checkpointMs),
  );
  say(
    'uploaded',
    `uploaded to s3://${bucket}/${archive.key} (${secs(archive.timings.uploadMs)}), sha256 ${archive.sha256.slice(0, 12)}...`,
    {
      key: archive.key,
      uploadMs: archive.timings.uploadMs,
      sha256: archive.sha256,
      marginMs: deadline - uploadedAt,
    },
    new Date(uploadedAt),
  );
  return uploadedAt;
}

async function main(): Promise<number> {
  await mkdir(demoDir, { recursive: true });
  console.log('spot-rescue demo: a stateful process survives a Spot interruption\n');

  // The cluster: two Spot nodes in different zones and an on-demand node; a rerun starts clean.
  const demo = await setUpRescueDemo(clients, {
    cluster: CLUSTER,
    namespace: NAMESPACE,
    bucket: BUCKET,
    queue: QUEUE,
    queuePrefix: 'spot-rescue-demo',
    stateDir: stateDir as string,
    nodeCount: 3,
    nodeSpec: (i) =>
      [
        { zone: 'us-east-1a', capacityType: 'spot' as const, nodeGroup: 'spot-a' },
        { zone: 'us-east-1b', capacityType: 'spot' as const, nodeGroup: 'spot-b' },
        { zone: 'us-east-1b', capacityType: 'on-demand' as const, nodeGroup: 'on-demand' },
      ][i] ?? {},
  });
  const { nodes, deployment } = demo;
  const source = nodes[0] as SimNode;
  const { agents, listener, worker: workerProc } = deployment;
  try {
    say(
      'cluster',
      `cluster: ${nodes.map((n) => `${n.name} (${n.capacityType}, ${n.zone}, ${n.instanceId})`).join(', ')}`,
    );
    say('services', `started ${agents.size} agents (runc + CRIU), the listener and the worker`);

    // The workload: a pod on the Spot node whose container is a real process
    // that keeps its progress only in memory.
    const { pod, warm } = await demo.startCounter(source.name, { pod: POD, memoryMib, cpu: '250m' });
    say(
      'workload',
      `workload running on ${source.name}: ${memoryMib} MiB of patterned memory, counter at ${fmtInt(warm.counter ?? 0)}`,
    );

    // Follow the source container until it is checkpointed away: its last value is "before".
    let before = warm.counter ?? 0;
    let following = true;
    const follow = (async () => {
      while (following) {
        const p = await demo.counterProgress(source.name, POD).catch(() => undefined);
        if (p?.status === 'running' && p['counter'] !== undefined) before = p['counter'];
        await sleep(50);
      }
    })();

    // The interruption, exactly as EventBridge delivers it.
    const eventTime = new Date();
    const deadline = eventTime.getTime() + 120_000;
    await demo.send(
      JSON.stringify(buildEvent('spot-interruption', { instanceId: source.instanceId, time: eventTime })),
    );
    saySent(source.instanceId, deadline);

    await sayListenerStages(listener, source.name, deadline);

    await line(workerProc, 'checkpointed');
    following = false;
    await follow;
    const uploadedAt = sayArchive(await readManifest(pod.metadata?.uid as string), BUCKET, deadline, 'runc');

    const restored = await line(workerProc, 'restored on target agent');
    const restoredPod = await waitFor('the restored pod', async () => {
      const list = await core.listNamespacedPod({ namespace: NAMESPACE });
      return list.items.find(
        (p: V1Pod) =>
          p.metadata?.annotations?.[RESTORED_FROM_ANNOTATION] === pod.metadata?.uid && p.spec?.nodeName,
      );
    });
    const target = restoredPod.spec?.nodeName as string;
    say(
      'restored',
      `restored on ${target} (${secs(Number(restored['ms']))})`,
      { node: target, restoreMs: restored['ms'] },
      new Date(String(restored.time)),
    );

    if (!agents.has(target)) throw new Error(`restored on ${target}, which has no agent`);
    const after = await waitFor('the restored workload to report progress', async () => {
      const p = await demo.counterProgress(target, restoredPod.metadata?.name as string);
      return p?.status === 'running' ? p : undefined;
    });
    const verified = await waitFor(
      'a full verification sweep of the restored memory',
      async () => {
        const p = await demo.counterProgress(target, restoredPod.metadata?.name as string);
        return p && (p.sweeps ?? 0) >= (after.sweeps ?? 0) + Math.ceil(memoryMib / 8) ? p : undefined;
      },
      { timeoutMs: 120_000 },
    );
    const continued = (after['counter'] ?? 0) >= before && (verified['corrupt'] ?? 1) === 0;
    say(
      'progress',
      `workload progress before: ${fmtInt(before)} after: ${fmtInt(after['counter'] ?? 0)} ` +
        (continued ? '(continued, not restarted)' : '(RESTARTED or corrupted)') +
        `; memory pattern ${verified['corrupt'] === 0 ? 'intact' : 'CORRUPT'}`,
      { before, after: after['counter'], corrupt: verified['corrupt'] },
    );
    const original = await core.readNamespacedPod({ name: POD, namespace: NAMESPACE }).then(
      (p) => (p.metadata?.uid === pod.metadata?.uid ? p : undefined),
      () => undefined,
    );
    const margin = deadline - uploadedAt;
    say('done', `rescued with ${secs(margin)} to spare${original ? ' (original pod still present!)' : ''}`, {
      marginMs: margin,
    });

    const ok = continued && !original && margin > 0;
    await writeFile(
      jsonPath,
      `${JSON.stringify({ ok, memoryMib, source: source.name, target, timeline }, null, 2)}\n`,
    );
    console.log(
      `\n${ok ? 'PASS' : 'FAIL'}: ${
        ok
          ? `the workload moved from ${source.name} to ${target} and kept counting from ${fmtInt(before)}`
          : 'the workload did not continue where it stopped'
      }. Timeline: ${jsonPath}`,
    );
    console.log('The stack keeps running; stop it with infra/stack down.');
    return ok ? 0 : 1;
  } finally {
    if (opts.stay) {
      console.log(
        'Services keep running (--stay): poke them with scripts/simulate-interruption --queue spot-rescue-demo, ' +
          'watch with SPOT_RESCUE_QUEUE_PREFIX=spot-rescue-demo node bin/spot-rescue.js status; Ctrl-C ends.',
      );
      await new Promise((r) => process.once('SIGINT', r));
    }
    await demo.stop();
  }
}

async function readManifest(
  podUid: string,
  where: { bucket: string; prefix: string } = {
    bucket: BUCKET,
    prefix: `${CLUSTER}/${NAMESPACE}/${POD}/${podUid}/`,
  },
): Promise<Manifest> {
  const { bucket: BUCKET, prefix } = where;
  const list = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
  const key = list.Contents?.map((o) => o.Key).find((k) => k?.endsWith('/manifest.json'));
  if (!key) throw new Error(`no manifest under s3://${BUCKET}/${prefix}`);
  const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return manifestSchema.parse(
    JSON.parse(await (got.Body as { transformToString(): Promise<string> }).transformToString()),
  );
}

/**
 * The same story on the stack's real nodes: a Deployment's pod on real-a
 * (kubelet 1.34, containerd 2.2.4, runc 1.3.5, CRIU 4.2), checkpointed by its
 * agent through the kubelet API, restored on real-b from a checkpoint image
 * imported into its containerd, and put in the Deployment's place.
 */
async function realNodesMain(): Promise<number> {
  await mkdir(demoDir, { recursive: true });
  console.log('spot-rescue demo on real nodes: a Deployment pod survives a Spot interruption\n');
  const bed = new RealNodeBed('exclusive');
  await bed.setUp();
  let rescue: RealRescue | undefined;
  try {
    const [a, b] = [bed.node(0), bed.node(1)];
    for (const n of bed.env.nodes) await clearInterruption(bed.core, n.name);
    await optInNamespace(bed);
    say(
      'cluster',
      `real nodes: ${bed.env.nodes.map((n) => `${n.name} (${n.zone}, ${n.instanceId})`).join(', ')}; namespace ${bed.namespace}`,
    );
    rescue = await startRealRescue(bed);
    say('services', `started ${rescue.agents.size} agents (kubelet runtime), the listener and the worker`);
    const pod = await deployRescuable(bed, POD, a, memoryMib);
    const uid = pod.metadata?.uid as string;
    const pidA = await bed.pidOf(a, pod);
    const warm = await waitFor(
      'the workload to fill its memory',
      async () => {
        const p = await bed.progress(pidA);
        return p.sweeps >= 1 ? p : undefined;
      },
      { timeoutMs: 300_000 },
    );
    say(
      'workload',
      `Deployment pod ${pod.metadata?.name} running on ${a.name}: ${memoryMib} MiB of patterned memory, counter at ${fmtInt(warm.counter)}`,
    );
    // "Before" is the last value the source showed before the warning: containerd resumes the
    // container after its dump and the agent freezes it only then, so what it counts past the
    // dump is not in the checkpoint.
    const before = (await bed.progress(pidA)).counter;

    const eventTime = new Date();
    const deadline = eventTime.getTime() + 120_000;
    await rescue.interrupt(a.instanceId, eventTime);
    saySent(a.instanceId, deadline);
    const { listener, worker } = rescue;
    await sayListenerStages(listener, a.name, deadline);
    await line(worker, 'checkpointed');
    const manifest = await readManifest(uid, {
      bucket: bed.bucket,
      prefix: `real-nodes/${bed.namespace}/${pod.metadata?.name}/${uid}/`,
    });
    const uploadedAt = sayArchive(manifest, bed.bucket, deadline, 'kubelet');
    const restored = await line(worker, 'restored on target agent');
    const restoredPod = await waitFor(
      'the restored pod running',
      async () => {
        const list = await bed.core.listNamespacedPod({ namespace: bed.namespace });
        return list.items.find(
          (p: V1Pod) =>
            p.metadata?.annotations?.[RESTORED_FROM_ANNOTATION] === uid &&
            p.status?.containerStatuses?.[0]?.state?.running,
        );
      },
      { timeoutMs: 120_000 },
    );
    const target = restoredPod.spec?.nodeName as string;
    say(
      'restored',
      `restored on ${target} from ${restoredPod.spec?.containers[0]?.image} by containerd (${secs(Number(restored['ms']))})`,
      { node: target, restoreMs: restored['ms'], image: restoredPod.spec?.containers[0]?.image },
      new Date(String(restored.time)),
    );
    const pidB = await bed.pidOf(target === b.name ? b : a, restoredPod);
    const after = await bed.progress(pidB);
    const verified = await waitFor(
      'a full verification sweep of the restored memory',
      async () => {
        const p = await bed.progress(pidB);
        return p.sweeps > after.sweeps ? p : undefined;
      },
      { timeoutMs: 300_000 },
    );
    const continued = after.counter >= before && verified.corrupt === 0;
    say(
      'progress',
      `workload progress before: ${fmtInt(before)} after: ${fmtInt(after.counter)} ` +
        (continued ? '(continued, not restarted)' : '(RESTARTED or corrupted)') +
        `; memory pattern ${verified.corrupt === 0 ? 'intact' : 'CORRUPT'}`,
      { before, after: after.counter, corrupt: verified.corrupt },
    );
    const finished = await line(worker, 'migration finished');
    const original = await bed.core
      .readNamespacedPod({ name: pod.metadata?.name as string, namespace: bed.namespace })
      .then(
        (p) => (p.metadata?.uid === uid ? p : undefined),
        () => undefined,
      );
    const replicas = (
      await bed.core.listNamespacedPod({ namespace: bed.namespace, labelSelector: `app=${POD}` })
    ).items.filter((p) => !p.metadata?.deletionTimestamp).length;
    const margin = deadline - uploadedAt;
    say(
      'done',
      `${finished['outcome']}: rescued with ${secs(margin)} to spare; ${replicas} pod(s) of the Deployment` +
        `${original ? ' (original pod still present!)' : ''}`,
      { marginMs: margin, outcome: finished['outcome'], replicas },
      new Date(String(finished.time)),
    );
    const ok = continued && !original && margin > 0 && target === b.name && replicas === 1;
    await writeFile(
      jsonPath,
      `${JSON.stringify({ ok, realNodes: true, memoryMib, source: a.name, target, timeline }, null, 2)}\n`,
    );
    console.log(
      `\n${ok ? 'PASS' : 'FAIL'}: ${
        ok
          ? `the Deployment's pod moved from ${a.name} to ${target} by the kubelet path and kept counting from ${fmtInt(before)}`
          : 'the workload did not continue where it stopped, or the Deployment is not back to one pod'
      }. Timeline: ${jsonPath}`,
    );
    return ok ? 0 : 1;
  } finally {
    await rescue?.stop();
    for (const n of bed.env.nodes) await clearInterruption(bed.core, n.name).catch(() => {});
    await bed.close();
  }
}

(opts.realNodes ? realNodesMain() : main()).then(
  (code) => process.exit(code),
  async (err: Error) => {
    console.error(`\nFAIL: ${err.message}`);
    await writeFile(
      jsonPath,
      `${JSON.stringify({ ok: false, error: err.message, timeline }, null, 2)}\n`,
    ).catch(() => {});
    process.exit(1);
  },
);
