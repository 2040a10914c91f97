/**
 * The two-minute-window benchmark. A simulated cluster of N nodes with M
 * opted-in pods each; K nodes get a Spot interruption warning at once. Every
 * pod on an interrupted node is a real process under runc (a few large ones,
 * 16 MiB to 1 GiB, and many small ones), so every checkpoint goes through the
 * same agent -> zstd -> S3 path; the pods on the other nodes are kwok pods
 * that only take capacity.
 *
 * 200 simulated pods share this machine's cores, where on EKS each node
 * brings its own: the processes tick every 250 ms and verify 128 KiB of
 * their memory per tick (under a tenth of a percent of a core each), the
 * agents of ten simulated nodes share one process (infra/sim/agent-host.ts),
 * and the agents of the nodes that only receive restores run at a lower CPU
 * priority, since on EKS they would not take CPU from the doomed nodes. Each
 * agent is still its own agent, with its own port, runc root and state.
 *
 * Before the burst, with nothing else running, it measures what the
 * pipeline moves on this machine (one node's checkpoint slots full, then
 * every interrupted node's at once) and moto's S3 alone. `--load X` sizes
 * each interrupted node's processes so that they add up to X times what
 * that node moves (its share of all nodes at once) before the cut-off, so
 * the whole burst is X times the machine's capacity too; the oracle is the
 * most pods any schedule could have stored before it, given the measured
 * per-pod times.
 *
 * Prints (and writes as JSON): capacity, offered load, the oracle and
 * restored / oracle; how soon after the warning each drained pod was
 * decided; the share of pods restored before their deadline, evicted and lost; the warning time left when each upload finished
 * (margin) p50/p99; bytes moved and aggregate throughput; and, for the same
 * processes, the work a plain drain (aws-node-termination-handler) throws
 * away next to what spot-rescue lost.
 *
 *   eval "$(infra/stack env)"; npm run bench:window -- [--nodes 50] [--pods 20] [--interrupt 10] [--large 40] [--load 0.5|1|2]
 *     [--delivered-late S] [--runs N] [--node-uplink-mibps U]
 *
 * `--node-uplink-mibps U` sends each node's uploads through an uplink of its
 * own, U MiB/s of zstd bytes (bench/window-uplink.ts): a node's network, not
 * two shared cores, limits its checkpoints, as on EKS, where each instance
 * has its own. Every run also prints the oracle at the rate each node held
 * during the burst (bench/window-capacity.ts, burstRates).
 *
 * `--delivered-late S` puts the warnings on the queue S seconds after the
 * `time` AWS gave them (bench/window-warning.ts): the instances still die
 * 120 s after that time, so the pipeline has S seconds less, and a load of
 * the same multiple needs (cut-off - S) / cut-off of the memory. Capacity,
 * the oracle and the decision times count from the delivery; the margins
 * count down to the real deadline.
 *
 * `--runs N` repeats the burst N times, each on a cluster, agents, worker
 * and workload of its own and with its own calibration: the machine is
 * shared, and its capacity moved by half between two runs of the same
 * load, so a capacity measured once would misstate the later runs' load and
 * oracle. Each run's table is printed as it ends, then a summary against
 * the issue's targets (bench/window-runs.ts); the JSON holds every run.
 *
 * Every figure of the burst comes from what the services reported while it
 * ran (bench/window-figures.ts): the worker's outcome line per pod and the
 * source agents' line per archived container, checked against the worker's
 * EMF line per rescue (what CloudWatch alarms read); never from S3, where the
 * worker deletes a restored pod's checkpoint and the calibration's own
 * checkpoints lie. Figures that cannot be true (a margin above the warning,
 * a negative duration, a share above 100 %) stop the benchmark with a
 * non-zero exit instead of being printed.
 *
 * The setting (simulated cluster, namespaces, queue, bucket, worker
 * identity, deployment) is the demo's (infra/sim/rescue-demo-setup.ts).
 *
 * Every process's log is kept in .stack/bench/<run>/ for reading afterwards.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import type { V1Pod } from '@kubernetes/client-node';
import { callAgent } from '../infra/sim/agent-call.js';
import { COUNTER_CONTAINER } from '../infra/sim/counter-workload.js';
import { buildEvent } from '../infra/sim/events.js';
import { type RescueDemoSpec, removeRescueDemo, setUpRescueDemo } from '../infra/sim/rescue-demo-setup.js';
import { localStackClients } from '../infra/sim/stack-clients.js';
import { MIGRATE_ANNOTATION, RESTORED_FROM_ANNOTATION } from '../services/common/labels.js';
import { cpuBetween, cpuSnapshot } from './cpu-usage.js';
import { admissionLine, admissionSummary } from './window-admissions.js';
import { calibrate, cutoffSeconds, probeS3 } from './window-calibration.js';
import {
  availableMiB,
  burstRates,
  memoryRefusal,
  oracleStored,
  sizesForLoadPerNode,
} from './window-capacity.js';
import {
  emfDisagreements,
  implausibleFigures,
  percentile,
  podReports,
  windowFigures,
} from './window-figures.js';
import { summarizeRuns, targetFor } from './window-runs.js';
import { NodeUplinks, nodeOfArchivePath, startUplinkProxy, type UplinkProxy } from './window-uplink.js';
import { pipelineWindowSeconds, SPOT_WARNING_SECONDS, warningTimes } from './window-warning.js';

const { values: args } = parseArgs({
  options: {
    nodes: { type: 'string', default: '50' },
    pods: { type: 'string', default: '20' },
    interrupt: { type: 'string', default: '10' },
    large: { type: 'string', default: '40' },
    'min-mib': { type: 'string', default: '16' },
    'max-mib': { type: 'string', default: '1024' },
    'small-mib': { type: 'string', default: '8' },
    'tick-ms': { type: 'string', default: '250' },
    'verify-kib': { type: 'string', default: '128' },
    'agents-per-process': { type: 'string', default: '10' },
    // SPOT_RESCUE_AGENT_MAX_CONCURRENT_CHECKPOINTS for every agent; empty: the agent's default.
    'agent-slots': { type: 'string', default: '' },
    // Where agents dump and unpack: empty for each node's own state dir (disk); a tmpfs such as
    // /dev/shm is faster but holds every in-flight image in memory next to the workload's 11 GiB.
    'work-dir': { type: 'string', default: '' },
    // One worker standing in for the chart's two replicas of 64.
    'worker-concurrency': { type: 'string', default: '128' },
    // Offered load as a multiple of the measured capacity; empty: the sizes above as given.
    load: { type: 'string', default: '' },
    // Seconds between the warning's `time` and its delivery (see bench/window-warning.ts).
    'delivered-late': { type: 'string', default: '0' },
    // MiB/s each simulated node may send to S3 (zstd bytes, as on the wire); empty: no limit (bench/window-uplink.ts).
    'node-uplink-mibps': { type: 'string', default: '' },
    // Bursts in this invocation, each on a fresh cluster with its own calibration.
    runs: { type: 'string', default: '1' },
    // Calibration: processes of this size, this many per node at once (default: the agent's slots).
    'calib-mib': { type: 'string', default: '128' },
    'calib-per-node': { type: 'string', default: '' },
    json: { type: 'string', default: 'out/bench-window.json' },
  },
});
const N = Number(args.nodes);
const M = Number(args.pods);
const K = Number(args.interrupt);
const LARGE = Number(args.large);
const MIN_MIB = Number(args['min-mib']);
const MAX_MIB = Number(args['max-mib']);
const SMALL_MIB = Number(args['small-mib']);
const TICK_MS = Number(args['tick-ms']);
const VERIFY_KIB = Number(args['verify-kib']);
const LOAD = args.load ? Number(args.load) : undefined;
const LATE_S = Number(args['delivered-late']);
const RUNS = Number(args.runs);
const UPLINK_MIBPS = args['node-uplink-mibps'] ? Number(args['node-uplink-mibps']) : undefined;
if (UPLINK_MIBPS !== undefined && !(UPLINK_MIBPS > 0))
  throw new Error(`--node-uplink-mibps must be a rate above 0 (got ${args['node-uplink-mibps']})`);
/** Seconds after the warning as AWS issued it by which the worker wants a default pod's archive stored. */
const CUTOFF_S = cutoffSeconds();
// Checked before anything is set up: a delay past the cut-off leaves no window to measure.
const WINDOW_S = pipelineWindowSeconds(CUTOFF_S, LATE_S);
if (!Number.isInteger(RUNS) || RUNS < 1)
  throw new Error(`--runs must be a whole number of at least 1 (got ${args.runs})`);

const clients = localStackClients();
const { core, s3, sqs } = clients;
const stateDir = process.env['SPOT_RESCUE_STATE_DIR'];
if (!stateDir) throw new Error('run with the local stack env: eval "$(infra/stack env)"');
const run = promisify(execFile);
const invocationId = Date.now().toString(36);
const ZONES = ['us-east-1a', 'us-east-1b', 'us-east-1c'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Memory of the i-th large process: geometric steps from MIN to MAX MiB. */
const largeMib = (i: number) =>
  Math.round(MIN_MIB * (MAX_MIB / MIN_MIB) ** (LARGE > 1 ? i / (LARGE - 1) : 0));

/** A run refused before any of its processes started: its message is the whole story, no stack. */
class RunRefused extends Error {}

interface RealPod {
  name: string;
  uid: string;
  node: string;
  mib: number;
  counterAtEvent?: number;
}

/** One burst, from a cluster of its own to its torn-down end; the result is what the JSON holds per run. */
async function burst(runNumber: number) {
  const t0 = Date.now();
  const CLUSTER = RUNS > 1 ? `win-${invocationId}-${runNumber}` : `win-${invocationId}`;
  const NS = CLUSTER;
  const BUCKET = `${CLUSTER}-archives`;
  const workDir = join(stateDir as string, 'bench', CLUSTER);
  await mkdir(workDir, { recursive: true });
  const agentWorkDir = args['work-dir'] ? join(args['work-dir'], `spot-rescue-${CLUSTER}`) : undefined;
  // Which node each pod's archive belongs to, for the uplink proxy: the calibration's and the workload's pods.
  const podNodes = new Map<string, string>();
  let uplink: UplinkProxy | undefined;
  if (UPLINK_MIBPS !== undefined) {
    uplink = await startUplinkProxy({
      target: process.env['SPOT_RESCUE_AWS_ENDPOINT'] as string,
      uplinks: new NodeUplinks(UPLINK_MIBPS * 2 ** 20),
      nodeOf: (path) => nodeOfArchivePath(podNodes, path),
    });
  }
  console.log(
    `window benchmark${RUNS > 1 ? `, run ${runNumber} of ${RUNS}` : ''}: ${N} nodes x ${M} pods, ${K} interrupted (${K * M} pods), ${LARGE} large processes`,
  );
  const spec: RescueDemoSpec = {
    cluster: CLUSTER,
    namespace: NS,
    systemNamespace: `${NS}-sys`,
    bucket: BUCKET,
    queue: CLUSTER,
    queuePrefix: CLUSTER,
    stateDir: stateDir as string,
    nodeCount: N,
    nodeSpec: (i) => ({ zone: ZONES[i % ZONES.length] as string, cpu: '16', memory: '64Gi' }),
    deployment: {
      agentsPerProcess: Number(args['agents-per-process']),
      // createSimNodes names the nodes `<cluster>-<index>`; the first K are interrupted.
      restoreOnlyNodes: new Set(Array.from({ length: N - K }, (_, i) => `${CLUSTER}-${K + i}`)),
      agentEnv: {
        ...(agentWorkDir ? { SPOT_RESCUE_AGENT_WORK_DIR: agentWorkDir } : {}),
        ...(args['agent-slots'] ? { SPOT_RESCUE_AGENT_MAX_CONCURRENT_CHECKPOINTS: args['agent-slots'] } : {}),
        ...(uplink ? { SPOT_RESCUE_AWS_ENDPOINT: uplink.url } : {}),
      },
      logDir: workDir,
      workerEnv: {
        SPOT_RESCUE_WORKER_CONCURRENCY: String(args['worker-concurrency']),
        // The EMF lines CloudWatch would read: a second account of each rescue, checked against the logs.
        SPOT_RESCUE_EMF_OUTPUT: 'stdout',
      },
    },
  };
  const demo = await setUpRescueDemo(clients, spec);
  const { nodes, queues, worker, deployment } = demo;
  const doomed = nodes.slice(0, K);
  const real: RealPod[] = [];
  const { agents, worker: workerProc } = deployment;
  try {
    console.log(
      `  ${agents.size} agents, listener and worker up after ${((Date.now() - t0) / 1000).toFixed(0)} s`,
    );

    // Capacity, measured with nothing else running: no workload process has started yet.
    const doomedNodeNames = doomed.map((n) => n.name);
    const perNode = Number(args['calib-per-node'] || args['agent-slots'] || 2);
    const calibration = await calibrate(
      {
        agents,
        tokenFor: (node) => worker.tokenFor(node),
        namespace: NS,
        bucket: BUCKET,
        tickMs: TICK_MS,
        onPod: (pod, node) => podNodes.set(pod, node),
      },
      doomedNodeNames,
      { mib: Number(args['calib-mib']), perNode, smallMib: SMALL_MIB },
    );
    const s3Alone = await probeS3(s3, BUCKET, { streams: K, mibEach: 32, partSizeMiB: 16, queueSize: 4 });
    const capacityMiB = calibration.allNodes.rawMiBps * WINDOW_S;
    const s3Share = calibration.allNodes.compressedMiBps / s3Alone.MiBps;
    console.log(
      `  capacity, nothing else running: one node ${calibration.oneNode.rawMiBps.toFixed(1)} MiB/s raw ` +
        `(${perNode} x ${args['calib-mib']} MiB at once); all ${K} nodes ${calibration.allNodes.rawMiBps.toFixed(1)} MiB/s raw, ` +
        `${calibration.allNodes.compressedMiBps.toFixed(1)} MiB/s zstd into S3; fixed cost per checkpoint ${calibration.overheadMs.toFixed(0)} ms` +
        (UPLINK_MIBPS === undefined
          ? ''
          : `; each node's uplink to S3 held to ${UPLINK_MIBPS} MiB/s of zstd bytes`),
    );
    console.log(
      `  moto's S3 alone: ${s3Alone.MiBps.toFixed(1)} MiB/s with ${K} uploads at once; the pipeline's S3 rate is ` +
        `${(s3Share * 100).toFixed(0)} % of it: ${s3Share >= 0.8 ? "moto's S3 is the limit" : "moto's S3 is not the limit"}`,
    );

    // Pods: on doomed nodes, real processes (LARGE large ones spread over them, the rest small).
    let largeIndex = 0;
    const shape = nodes.map((_, ni) =>
      Array.from({ length: M }, (_, pi) => {
        const large = ni < K && largeIndex < LARGE && pi < Math.ceil(LARGE / K) ? largeIndex++ : -1;
        return ni >= K ? 64 : large >= 0 ? largeMib(large) : SMALL_MIB;
      }),
    );
    const doomedShape = shape.slice(0, K);
    // A load this machine cannot hold would end in the OOM killer, maybe in another's processes.
    const refusal = memoryRefusal({
      shapeByNode: doomedShape,
      ...(LOAD === undefined ? {} : { load: LOAD }),
      capacityMiBps: calibration.allNodes.rawMiBps,
      cutoffSeconds: CUTOFF_S,
      lateSeconds: LATE_S,
      minMiB: 4,
      availableMiB: availableMiB(await readFile('/proc/meminfo', 'utf8')),
    });
    if (refusal) throw new RunRefused(`not run: ${refusal}`);
    if (LOAD !== undefined) {
      const scaled = sizesForLoadPerNode(doomedShape, {
        load: LOAD,
        capacityMiBps: calibration.allNodes.rawMiBps,
        windowSeconds: WINDOW_S,
        minMiB: 4,
      });
      for (let ni = 0; ni < K; ni++) shape[ni] = scaled[ni] as number[];
    }
    for (const [ni, node] of nodes.entries()) {
      const isDoomed = ni < K;
      await Promise.all(
        Array.from({ length: M }, async (_, pi) => {
          const memMib = shape[ni]?.[pi] as number;
          const name = `p-${ni}-${pi}`;
          const pod = await core.createNamespacedPod({
            namespace: NS,
            body: {
              metadata: { name, annotations: { [MIGRATE_ANNOTATION]: 'true' } },
              spec: {
                nodeName: node.name,
                containers: [
                  {
                    name: COUNTER_CONTAINER,
                    image: 'registry.local/counter:1',
                    resources: { requests: { cpu: '100m', memory: `${memMib + 32}Mi` } },
                  },
                ],
              },
            },
          });
          podNodes.set(name, node.name);
          if (isDoomed) real.push({ name, uid: pod.metadata?.uid as string, node: node.name, mib: memMib });
        }),
      );
    }
    for (const p of real) {
      const r = await callAgent(
        demo.agentOf(p.node).url,
        await worker.tokenFor(p.node),
        'POST',
        '/v1/local/containers',
        {
          namespace: NS,
          pod: p.name,
          podUid: p.uid,
          container: COUNTER_CONTAINER,
          args: [
            '/usr/local/bin/counter',
            String(p.mib),
            '/state/progress',
            String(TICK_MS),
            String(VERIFY_KIB),
          ],
        },
      );
      if (r.status !== 201) throw new Error(`could not start ${p.name}: ${JSON.stringify(r.body)}`);
    }
    const totalMib = real.reduce((a, p) => a + p.mib, 0);
    console.log(
      `  ${real.length} real processes started (${totalMib} MiB in all); letting them fill their memory`,
    );
    const progress = (node: string, pod: string) => demo.counterProgress(node, pod);
    const deadlineReady = Date.now() + 300_000;
    for (const p of real) {
      // The first progress line is written once the memory is filled.
      while (((await progress(p.node, p.name))?.['counter'] ?? 0) < 1) {
        if (Date.now() > deadlineReady) throw new Error(`${p.name} never filled its memory`);
        await sleep(200);
      }
    }
    for (const p of real) p.counterAtEvent = (await progress(p.node, p.name))?.['counter'];

    const doomedNames = new Set(doomed.map((n) => n.name));
    const labels = new Map<number, string>([[process.pid, 'benchmark driver']]);
    for (const p of deployment.all) {
      const node = p.name.startsWith('agent') ? p.name.split(/\s|\.\./)[1] : undefined;
      labels.set(
        p.child.pid ?? -1,
        node ? (doomedNames.has(node) ? 'agents of doomed nodes' : 'agents of restore targets') : p.name,
      );
    }
    const label = (cmd: string, pid: number) =>
      labels.get(pid) ??
      (/moto_server/.test(cmd)
        ? 'moto (S3, SQS, EC2)'
        : /counter/.test(cmd)
          ? 'workload processes'
          : /kube-apiserver|etcd|kube-controller|kube-scheduler|kwok|redis/.test(cmd)
            ? 'control plane and redis'
            : 'other');

    // The interruption: K warnings at once, issued by AWS at `issuedAt` and delivered LATE_S s later.
    const times = warningTimes(Date.now(), LATE_S);
    await sleep(times.deliveredAt - Date.now());
    const cpuAtEvent = await cpuSnapshot(label);
    for (let i = 0; i < doomed.length; i += 10) {
      await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: queues.queueUrl,
          Entries: doomed.slice(i, i + 10).map((n, j) => ({
            Id: String(j),
            MessageBody: JSON.stringify(
              buildEvent('spot-interruption', { instanceId: n.instanceId, time: new Date(times.issuedAt) }),
            ),
          })),
        }),
      );
    }
    console.log(
      `  ${K} Spot interruption warnings issued at ${new Date(times.issuedAt).toISOString()}, delivered at ${new Date(times.deliveredAt).toISOString()} (${LATE_S} s late); the instances die at ${new Date(times.deadline).toISOString()}`,
    );

    // Only this run's pods: the listener also re-plans tainted nodes other runs left in the cluster.
    const runPods = real.map((p) => `${NS}/${p.name}`);
    const agentLines = () => deployment.all.filter((p) => p.name.startsWith('agent')).flatMap((p) => p.lines);
    const reportsNow = () => podReports(NS, workerProc.lines, agentLines());
    const figureTimes = { deliveredAt: times.deliveredAt, deadline: times.deadline };
    const waitEnd = Date.now() + 300_000;
    while (
      windowFigures(reportsNow(), { pods: runPods, ...figureTimes }).unfinished.length > 0 &&
      Date.now() < waitEnd
    )
      await sleep(500);
    const handledAt = Date.now();
    const cpu = cpuBetween(cpuAtEvent, await cpuSnapshot(label));
    const reports = reportsNow();
    const figures = windowFigures(reports, { pods: runPods, ...figureTimes });
    const reasons = new Map<string, number>();
    for (const r of reports) {
      if (r.outcome === undefined || r.outcome === 'restored') continue;
      // One line per kind of reason: figures and addresses vary from pod to pod.
      const kind = String(r.reason)
        .replace(/https?:\/\/\S+/g, '<agent>')
        .replace(/\d+(\.\d+)?/g, 'N');
      reasons.set(kind, (reasons.get(kind) ?? 0) + 1);
    }

    // Whether each restored process continued: its copy found by the annotation the worker puts on it.
    const pods = (await core.listNamespacedPod({ namespace: NS })).items;
    let continued = 0;
    let lostWorkRescueS = 0;
    for (const p of real) {
      const copy = pods.find((x: V1Pod) => x.metadata?.annotations?.[RESTORED_FROM_ANNOTATION] === p.uid);
      const after = copy?.spec?.nodeName
        ? await progress(copy.spec.nodeName, copy.metadata?.name as string).catch(() => undefined)
        : undefined;
      if (after && (after['counter'] ?? 0) >= (p.counterAtEvent ?? 0) && after['corrupt'] === 0) continued++;
      else lostWorkRescueS += ((p.counterAtEvent ?? 0) * TICK_MS) / 1000;
    }
    // A plain drain kills every one of these processes; their replacements start from zero.
    const lostWorkDrainS = real.reduce((a, p) => a + ((p.counterAtEvent ?? 0) * TICK_MS) / 1000, 0);
    const { restored, evicted, lost, restoredBeforeDeadline, margins, bytesRaw, bytesCompressed } = figures;
    const uploadWindowS = figures.uploadWindowSeconds;
    // The oracle's clock starts at delivery: no schedule can begin a checkpoint before the warning arrives.
    const oraclePods = real.map((p) => ({ node: p.node, bytes: p.mib * 2 ** 20, cutoffMs: WINDOW_S * 1000 }));
    const oracle = oracleStored(calibration.model, oraclePods);
    // The same oracle at the rate each node held during the burst (bench/window-capacity.ts: burstRates).
    const reportOf = new Map(reports.map((r) => [r.pod, r]));
    const burstRate = burstRates(
      real.map((p) => {
        const r = reportOf.get(`${NS}/${p.name}`);
        return { node: p.node, bytes: r?.bytesRaw ?? 0, storedAt: r?.storedAt };
      }),
      times.deliveredAt,
      calibration.overheadMs,
    );
    const oracleAtBurstRate = oracleStored(
      (node) => ({
        overheadMs: calibration.overheadMs,
        nodeBytesPerSec: burstRate.get(node) ?? calibration.model.nodeBytesPerSec,
      }),
      oraclePods,
    );
    const burstMiBps = [...burstRate.values()].reduce((a, b) => a + b, 0) / 2 ** 20;
    const decidedS = figures.drainedDecidedSeconds;
    const admissions = admissionSummary(agentLines(), times.deliveredAt);
    const secondsLeftAtDelivery = (times.deadline - times.deliveredAt) / 1000;
    const problems = [
      ...implausibleFigures(figures, reports, { secondsLeftAtDelivery }),
      ...emfDisagreements(NS, workerProc.lines, reports),
    ];
    const decided = (xs: number[]) => ({
      p50: percentile(xs, 50),
      max: xs.length ? Math.max(...xs) : Number.NaN,
      within10s: xs.filter((x) => x <= 10).length,
      count: xs.length,
    });

    const result = {
      run: runNumber,
      cluster: CLUSTER,
      machine: `${(await run('nproc')).stdout.trim()} cores`,
      nodes: N,
      podsPerNode: M,
      interruptedNodes: K,
      pods: real.length,
      largeProcesses: LARGE,
      memoryMiB: totalMib,
      warning: {
        issuedAt: new Date(times.issuedAt).toISOString(),
        deliveredAt: new Date(times.deliveredAt).toISOString(),
        deadline: new Date(times.deadline).toISOString(),
        deliveredLateSeconds: LATE_S,
        secondsLeftAtDelivery,
      },
      capacity: {
        // Each node's uploads held to this many MiB/s of zstd bytes; null: no limit but the machine's.
        nodeUplinkMiBps: UPLINK_MIBPS ?? null,
        oneNodeMiBps: calibration.oneNode.rawMiBps,
        allNodesMiBps: calibration.allNodes.rawMiBps,
        allNodesCompressedMiBps: calibration.allNodes.compressedMiBps,
        overheadMs: calibration.overheadMs,
        // From the warning as issued to the worker's cut-off, and the part of it after delivery.
        cutoffSecondsAfterIssue: CUTOFF_S,
        windowSeconds: WINDOW_S,
        mibBeforeCutoff: capacityMiB,
        s3AloneMiBps: s3Alone.MiBps,
        s3Share,
      },
      offeredLoad: totalMib / capacityMiB,
      oracle,
      restoredBeforeDeadline,
      restoredOverOracle: oracle > 0 ? restoredBeforeDeadline / oracle : Number.NaN,
      // The nodes' rates during the burst, summed (each node's own in burstNodeMiBps), and the oracle at them.
      burstMiBps,
      burstNodeMiBps: Object.fromEntries([...burstRate].map(([node, r]) => [node, r / 2 ** 20])),
      oracleAtBurstRate,
      drainedDecidedFromDeliverySeconds: decided(decidedS),
      drainedDecidedFromIssueSeconds: decided(decidedS.map((x) => x + LATE_S)),
      drainedDecidedAfterDelivery: decidedS,
      admissions,
      outcomes: figures.outcomes,
      fallbackReasons: Object.fromEntries(reasons),
      shareRestoredBeforeDeadline: restoredBeforeDeadline / real.length,
      shareEvicted: evicted / real.length,
      shareLost: lost / real.length,
      lost,
      processesContinued: continued,
      // Seconds left before the real deadline (issue + 120 s) when each upload ended.
      // p99 of a margin is its low tail: 99% of pods had at least this much time left.
      marginSeconds: {
        p50: percentile(margins, 50),
        p99: percentile(margins, 1),
        min: margins.length ? Math.min(...margins) : Number.NaN,
      },
      bytesRaw,
      bytesCompressed,
      uploadWindowSecondsFromDelivery: uploadWindowS,
      aggregateMiBps: figures.aggregateMiBps,
      allHandledSecondsFromDelivery: (handledAt - times.deliveredAt) / 1000,
      workLostSeconds: { spotRescue: lostWorkRescueS, plainDrain: lostWorkDrainS },
      unfinished: figures.unfinished,
      implausible: problems,
      cpu,
      loadAverage: (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).map(Number),
      logs: workDir,
    };
    if (problems.length) return result;
    const late = LATE_S > 0;
    const fromDelivery = late ? 'after delivery' : 'after the warning';
    console.log(`
pods on interrupted nodes     ${real.length} (all real runc processes, ${totalMib} MiB)
warning                       ${late ? `delivered ${LATE_S} s after AWS issued it: ${secondsLeftAtDelivery} s left of the ${SPOT_WARNING_SECONDS} s, ${WINDOW_S.toFixed(0)} s of them before the worker's cut-off (${CUTOFF_S.toFixed(0)} s after issue)` : `delivered as issued: ${CUTOFF_S.toFixed(0)} s to the worker's cut-off`}
offered load                  ${result.offeredLoad.toFixed(2)} x capacity (${totalMib} MiB against ${capacityMiB.toFixed(0)} MiB movable in the ${WINDOW_S.toFixed(0)} s from delivery to the cut-off)
oracle                        ${oracle} pods could have been stored in the ${WINDOW_S.toFixed(0)} s from delivery to the cut-off; restored ${restoredBeforeDeadline} = ${(result.restoredOverOracle * 100).toFixed(1)} % of the oracle${restoredBeforeDeadline > oracle ? " (above the oracle: the calibration underestimated this run's throughput)" : ''}
oracle at the burst's rate    ${oracleAtBurstRate} pods at the ${burstMiBps.toFixed(1)} MiB/s the nodes held during the burst (${(burstMiBps / calibration.allNodes.rawMiBps).toFixed(2)} x the calibration's ${calibration.allNodes.rawMiBps.toFixed(1)}); restored ${restoredBeforeDeadline} = ${oracleAtBurstRate > 0 ? ((restoredBeforeDeadline / oracleAtBurstRate) * 100).toFixed(1) : 'n/a'} % of it
drained pods decided          ${decidedS.length ? `p50 ${result.drainedDecidedFromDeliverySeconds.p50.toFixed(1)} s, max ${result.drainedDecidedFromDeliverySeconds.max.toFixed(1)} s ${fromDelivery}; ${result.drainedDecidedFromDeliverySeconds.within10s} of ${decidedS.length} within 10 s${late ? ` (max ${result.drainedDecidedFromIssueSeconds.max.toFixed(1)} s after issue)` : ''}` : 'none drained'}
restored before deadline      ${restoredBeforeDeadline} of ${real.length} (${(result.shareRestoredBeforeDeadline * 100).toFixed(1)} %); ${restored} restored in all
evicted                       ${evicted} (${(result.shareEvicted * 100).toFixed(1)} %)
lost                          ${lost} (${(result.shareLost * 100).toFixed(1)} %)   (${JSON.stringify(result.outcomes)})
why not restored              ${JSON.stringify(result.fallbackReasons)}
agents' admissions            ${admissionLine(admissions)}
processes that continued      ${continued} / ${real.length}
margin at upload (s)          p50 ${result.marginSeconds.p50.toFixed(1)}  p99 ${result.marginSeconds.p99.toFixed(1)}  min ${result.marginSeconds.min.toFixed(1)}  (left before the instance dies, ${SPOT_WARNING_SECONDS} s after issue${late ? `; at most ${secondsLeftAtDelivery} s` : ''})
bytes moved                   ${(bytesRaw / 2 ** 20).toFixed(0)} MiB raw, ${(bytesCompressed / 2 ** 20).toFixed(0)} MiB zstd
aggregate throughput          ${result.aggregateMiBps.toFixed(1)} MiB/s raw over the ${uploadWindowS.toFixed(1)} s from ${late ? 'delivery' : 'the warning'} to the last archive stored
every pod handled             ${result.allHandledSecondsFromDelivery.toFixed(1)} s ${fromDelivery}
work lost                     spot-rescue ${lostWorkRescueS.toFixed(0)} s  vs plain drain ${lostWorkDrainS.toFixed(0)} s (progress the killed processes had made)`);
    console.log(
      `CPU while handling            ${(cpu.busyShare * 100).toFixed(0)} % busy; CPU-s ${JSON.stringify(cpu.cpuSeconds)}; load average ${result.loadAverage.join(' ')}`,
    );
    if (figures.unfinished.length) console.log(`no outcome for: ${figures.unfinished.join(' ')}`);
    console.log(`logs in ${workDir}`);
    return result;
  } finally {
    await demo.stop();
    await removeRescueDemo(clients, spec);
    await core.deleteNamespace({ name: NS }).catch(() => undefined);
    await core.deleteNamespace({ name: `${NS}-sys` }).catch(() => undefined);
    if (agentWorkDir) await rm(agentWorkDir, { recursive: true, force: true });
    await uplink?.close();
  }
}

async function main() {
  const jsonPath = args.json as string;
  await mkdir(dirname(jsonPath), { recursive: true });
  const settings = { ...args, cutoffSecondsAfterIssue: CUTOFF_S, windowSecondsFromDelivery: WINDOW_S };
  const results: Awaited<ReturnType<typeof burst>>[] = [];
  // Without --load, the sizes as given decide which target applies: the highest load a run measured.
  const summaryOf = () =>
    summarizeRuns(results, targetFor(LOAD ?? Math.max(0, ...results.map((r) => r.offeredLoad))));
  // Written after every run, so that the runs done survive a later one's failure or timeout.
  const write = (error?: string) =>
    writeFile(
      jsonPath,
      `${JSON.stringify({ settings, runs: results, summary: summaryOf(), ...(error ? { error } : {}) }, null, 2)}\n`,
    );
  for (let i = 1; i <= RUNS; i++) {
    let result: Awaited<ReturnType<typeof burst>>;
    try {
      result = await burst(i);
    } catch (err) {
      await write(String(err));
      throw err;
    }
    results.push(result);
    await write();
    if (result.implausible.length) {
      // Figures that cannot be what happened are not printed: the benchmark read the wrong signal.
      console.error(
        `implausible figures in run ${i}, not printed (details in ${jsonPath}):\n  ${result.implausible.join('\n  ')}`,
      );
      process.exitCode = 1;
      return;
    }
  }
  const s = summaryOf();
  const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
  console.log(`
${RUNS} run(s)${LOAD === undefined ? '' : ` at --load ${LOAD}`}${LATE_S ? `, delivered ${LATE_S} s late` : ''}
offered load                  ${s.offeredLoad.min.toFixed(2)}-${s.offeredLoad.max.toFixed(2)} x capacity
restored / oracle per run     ${results.map((r, i) => `${r.restoredBeforeDeadline}/${r.oracle} (${pct(s.restoredOverOracle[i] as number)})`).join(', ')}
restored / pods per run       ${results.map((r) => `${r.restoredBeforeDeadline}/${r.pods}`).join(', ')}
lost per run                  ${results.map((r) => r.lost).join(', ')}
drained, decided (max, s)     ${results.map((r) => (r.drainedDecidedFromDeliverySeconds.count ? `${r.drainedDecidedFromDeliverySeconds.count} by ${r.drainedDecidedFromDeliverySeconds.max.toFixed(1)}` : 'none')).join(', ')}   (${LATE_S ? 'after delivery' : 'after the warning'})
p99 margin                    ${s.p99MarginSeconds.min.toFixed(1)} s (worst run) to ${s.p99MarginSeconds.max.toFixed(1)} s (best run); least time left by any archive ${s.minMarginSeconds.toFixed(1)} s
target                        ${s.target ? `${s.target}: met in ${s.runsMeetingTarget} of ${s.runs} run(s)${s.misses.some((m) => m.length) ? `\n  ${s.misses.map((m, i) => `run ${i + 1}: ${m.length ? m.join('; ') : 'met'}`).join('\n  ')}` : ''}` : 'none at this load (the issue sets them at 0.8x or below and at 2x)'}
written to ${jsonPath}`);
}

main().catch((err) => {
  console.error(err instanceof RunRefused ? err.message : err);
  process.exit(1);
});
