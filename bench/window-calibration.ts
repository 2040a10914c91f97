import { randomBytes, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { callAgent } from '../infra/sim/agent-call.js';
import { parseCounterProgress } from '../infra/sim/counter-progress.js';
import type { AgentHandle } from '../infra/sim/local-agent.js';
import { S3ArchiveStore } from '../services/agent/archive-store.js';
import { type Manifest, manifestSchema } from '../services/common/agent-api.js';
import { planBudget } from '../services/worker/budget.js';
import { workerSettings } from '../services/worker/settings.js';
import type { PodTimeModel } from './window-capacity.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Where a calibration runs: the interrupted nodes' agents, as the worker calls them. */
export interface CalibrationTarget {
  agents: Map<string, AgentHandle>;
  /** The worker's token for a node's agent (its audience). */
  tokenFor(node: string): Promise<string>;
  namespace: string;
  bucket: string;
  tickMs: number;
  /** Told each calibration pod's node before its process starts (the uplink proxy paces by pod). */
  onPod?(pod: string, node: string): void;
}

export interface Phase {
  checkpoints: number;
  bytesRaw: number;
  bytesCompressed: number;
  wallSeconds: number;
  rawMiBps: number;
  compressedMiBps: number;
}

export interface Calibration {
  oneNode: Phase;
  allNodes: Phase;
  /** The lone small checkpoint's time, less its bytes at the one-node rate. */
  overheadMs: number;
  model: PodTimeModel;
}

/**
 * Starts `perNode` counter processes of `mib` on each node, then checkpoints
 * all of them at once through their agents (synchronous call, no admission)
 * and measures what moved. The checkpointed processes are gone afterwards
 * (runc checkpoints without leave-running): they exist only for this.
 */
async function phase(t: CalibrationTarget, nodes: string[], perNode: number, mib: number): Promise<Phase> {
  const procs = nodes.flatMap((node) =>
    Array.from({ length: perNode }, () => ({
      node,
      pod: `cal-${randomUUID().slice(0, 8)}`,
      uid: randomUUID(),
    })),
  );
  const agentOf = (node: string) => t.agents.get(node) as AgentHandle;
  for (const p of procs) t.onPod?.(p.pod, p.node);
  for (const p of procs) {
    const r = await callAgent(agentOf(p.node).url, await t.tokenFor(p.node), 'POST', '/v1/local/containers', {
      namespace: t.namespace,
      pod: p.pod,
      podUid: p.uid,
      container: 'app',
      args: ['/usr/local/bin/counter', String(mib), '/state/progress', String(t.tickMs), '128'],
    });
    if (r.status !== 201) throw new Error(`calibration process not started: ${JSON.stringify(r.body)}`);
  }
  for (const p of procs) {
    for (;;) {
      const r = await callAgent<{ progress?: string }>(
        agentOf(p.node).url,
        await t.tokenFor(p.node),
        'GET',
        `/v1/local/containers/${t.namespace}/${p.pod}/app`,
      );
      if (r.body.progress && (parseCounterProgress(r.body.progress)['counter'] ?? 0) >= 1) break;
      await sleep(200);
    }
  }
  const t0 = performance.now();
  const manifests: Manifest[] = await Promise.all(
    procs.map(async (p) => {
      const checkpointId = `cal-${randomUUID().slice(0, 12)}`;
      const r = await callAgent(agentOf(p.node).url, await t.tokenFor(p.node), 'POST', '/v1/checkpoints', {
        namespace: t.namespace,
        pod: p.pod,
        podUid: p.uid,
        containers: ['app'],
        checkpointId,
        deadline: new Date(Date.now() + 600_000).toISOString(),
        s3: { bucket: t.bucket, prefix: `calibration/${p.pod}/${checkpointId}` },
      });
      if (r.status !== 200) throw new Error(`calibration checkpoint failed: ${JSON.stringify(r.body)}`);
      return manifestSchema.parse(r.body);
    }),
  );
  const wallSeconds = (performance.now() - t0) / 1000;
  for (const p of procs) {
    await callAgent(
      agentOf(p.node).url,
      await t.tokenFor(p.node),
      'DELETE',
      `/v1/local/containers/${t.namespace}/${p.pod}/app`,
    );
  }
  const bytesRaw = manifests.reduce((a, m) => a + m.containers.reduce((b, c) => b + c.bytesRaw, 0), 0);
  const bytesCompressed = manifests.reduce(
    (a, m) => a + m.containers.reduce((b, c) => b + c.bytesCompressed, 0),
    0,
  );
  return {
    checkpoints: procs.length,
    bytesRaw,
    bytesCompressed,
    wallSeconds,
    rawMiBps: bytesRaw / 2 ** 20 / wallSeconds,
    compressedMiBps: bytesCompressed / 2 ** 20 / wallSeconds,
  };
}

/**
 * What the pipeline moves on this machine with nothing else running: one
 * node's slots full, then every interrupted node's at once (the burst's
 * situation); and the fixed cost of a checkpoint, from a lone small one.
 */
export async function calibrate(
  t: CalibrationTarget,
  nodes: string[],
  o: { mib: number; perNode: number; smallMib: number },
): Promise<Calibration> {
  const first = nodes.slice(0, 1);
  const small = await phase(t, first, 1, o.smallMib);
  const oneNode = await phase(t, first, o.perNode, o.mib);
  const allNodes = await phase(t, nodes, o.perNode, o.mib);
  const overheadMs = Math.max(
    0,
    small.wallSeconds * 1000 - (small.bytesRaw / (oneNode.rawMiBps * 2 ** 20)) * 1000,
  );
  return {
    oneNode,
    allNodes,
    overheadMs,
    model: { overheadMs, nodeBytesPerSec: (allNodes.rawMiBps * 2 ** 20) / nodes.length },
  };
}

/**
 * moto's S3 alone: `streams` multipart uploads of incompressible data at
 * once, with the agent's part size and parallelism, from this process.
 */
export async function probeS3(
  s3: S3Client,
  bucket: string,
  o: { streams: number; mibEach: number; partSizeMiB: number; queueSize: number },
): Promise<{ MiBps: number; seconds: number }> {
  const store = new S3ArchiveStore(s3, {
    partSizeBytes: o.partSizeMiB * 2 ** 20,
    queueSize: o.queueSize,
    sse: 'none',
    sseKmsKeyId: undefined,
  });
  // Generated before the clock starts, so only S3 is timed.
  const chunk = randomBytes(2 ** 20);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: o.streams }, (_, i) =>
      store.upload(
        bucket,
        `s3-probe/${i}`,
        Readable.from(
          (function* () {
            for (let n = 0; n < o.mibEach; n++) yield chunk;
          })(),
        ),
        new AbortController().signal,
      ),
    ),
  );
  const seconds = (performance.now() - t0) / 1000;
  return { MiBps: (o.streams * o.mibEach) / seconds, seconds };
}

/**
 * Seconds after the warning by which a default pod's archive must be stored:
 * the worker's own budget with its default settings (grace kept for a drain
 * if the checkpoint fails).
 */
export function cutoffSeconds(gracePeriodSeconds = 30): number {
  const d = <K extends keyof typeof workerSettings>(k: K) => workerSettings[k].schema.parse(undefined);
  const plan = planBudget({
    now: 0,
    deadline: 120_000,
    memoryBytes: 0,
    throughputBytesPerSec: 1,
    fixedOverheadMs: 0,
    safetyFactor: 1,
    safetyMarginMs: d('safetyMarginMs') as number,
    gracePeriodSeconds,
    maxFallbackGraceMs: (d('maxFallbackGraceSeconds') as number) * 1000,
    evictionLeadMs: d('evictionLeadMs') as number,
  });
  if (plan.action !== 'migrate') throw new Error('no window at all');
  return plan.checkpointBy / 1000;
}
