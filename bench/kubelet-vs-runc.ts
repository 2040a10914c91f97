/**
 * The kubelet path against the runc path, same run, same machine: a counter
 * workload holding 512 MiB (by default) is moved between two nodes by the
 * agents' API, once on the stack's real nodes (kubelet checkpoint API ->
 * containerd 2.2.4 -> runc 1.3.5 -> CRIU 4.2; restore by importing a
 * checkpoint image into the target's containerd and starting a pod from it)
 * and once on two simulated nodes (the agent's own runc + CRIU).
 *
 *   eval "$(infra/stack env)"; node --import tsx bench/kubelet-vs-runc.ts [--mib 512] [--json out/kubelet-vs-runc.json]
 *
 * Prints, per path: the dump, zstd + upload, download + verify (+ image
 * import), the restore until the process counts again, and the freeze: from
 * the checkpoint request until the restored process has counted past where
 * the original stopped. Everything it creates is removed.
 */

import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { RealNodeBed } from '../infra/sim/real-node-bed.js';
import type { Manifest, RestoreResponse } from '../services/common/agent-api.js';
import { archiveDigests } from '../services/common/agent-api.js';
import { AgentBed, call } from '../test/support/agent-bed.js';
import { waitFor } from '../test/support/stack.js';

const { values: args } = parseArgs({
  options: {
    mib: { type: 'string', default: '512' },
    json: { type: 'string', default: 'out/kubelet-vs-runc.json' },
  },
});
const mib = Number(args.mib);

interface Figures {
  path: string;
  bytesRaw: number;
  bytesCompressed: number;
  dumpMs: number;
  uploadMs: number;
  downloadMs: number;
  restoreMs: number;
  freezeMs: number;
}

const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

async function kubeletPath(): Promise<Figures> {
  const bed = new RealNodeBed();
  await bed.setUp();
  try {
    const [a, b] = [bed.node(0), bed.node(1)];
    const [agentA, agentB] = await Promise.all([bed.startAgent(a), bed.startAgent(b)]);
    const pod = await bed.deployCounter('bench', a, mib);
    const pidA = await bed.pidOf(a, pod);
    await waitFor('the memory swept once', async () => (await bed.progress(pidA)).sweeps >= 1, {
      timeoutMs: 300_000,
    });
    const checkpointId = `cp-${randomUUID().slice(0, 8)}`;
    const prefix = `bench/${bed.namespace}/bench/${checkpointId}`;
    const frozenBefore = (await bed.progress(pidA)).counter;
    const t0 = performance.now();
    const cp = await bed.callAgent<Manifest>(agentA, 'POST', '/v1/checkpoints', {
      namespace: bed.namespace,
      pod: pod.metadata!.name!,
      podUid: pod.metadata!.uid!,
      containers: ['counter'],
      checkpointId,
      deadline: new Date(Date.now() + 300_000).toISOString(),
      s3: { bucket: bed.bucket, prefix },
    });
    if (cp.status !== 200) throw new Error(`kubelet checkpoint: ${cp.status} ${JSON.stringify(cp.body)}`);
    const rs = await bed.callAgent<RestoreResponse>(agentB, 'POST', '/v1/restores', {
      archives: archiveDigests(cp.body),
      manifest: { bucket: bed.bucket, key: `${prefix}/manifest.json` },
      target: { namespace: bed.namespace, pod: 'bench-restored' },
    });
    if (rs.status !== 200) throw new Error(`kubelet restore: ${rs.status} ${JSON.stringify(rs.body)}`);
    const tImported = performance.now();
    const restored = await bed.runRestored(
      'bench-restored',
      b,
      rs.body.containers[0]!.image!,
      pod.spec!.containers[0]!.command!,
    );
    const pidB = await bed.pidOf(b, restored);
    await waitFor(
      'the restored process to count on',
      async () => (await bed.progress(pidB)).counter > frozenBefore,
      {
        timeoutMs: 120_000,
        intervalMs: 50,
      },
    );
    const tRunning = performance.now();
    const c = cp.body.containers[0]!;
    const r = rs.body.containers[0]!;
    return {
      path: 'kubelet (containerd 2.2.4)',
      bytesRaw: c.bytesRaw,
      bytesCompressed: c.bytesCompressed,
      dumpMs: c.timings.checkpointMs,
      uploadMs: c.timings.uploadMs,
      // The restore call downloads, verifies and imports; the pod's start is containerd's CRIU restore.
      downloadMs: r.downloadMs + r.restoreMs,
      restoreMs: tRunning - tImported,
      freezeMs: tRunning - t0,
    };
  } finally {
    await bed.close();
  }
}

async function runcPath(): Promise<Figures> {
  const bed = new AgentBed();
  await bed.setUp();
  try {
    const [a, b] = await Promise.all([bed.startAgent('bench-a'), bed.startAgent('bench-b')]);
    const podUid = await bed.startCounter(a, 'bench', { container: 'app', mib, memoryMiB: mib + 256 });
    await waitFor(
      'the memory swept once',
      async () => ((await bed.progress(a, 'bench', 'app'))?.values['sweeps'] ?? 0) >= 1,
      {
        timeoutMs: 300_000,
      },
    );
    const checkpointId = `cp-${randomUUID().slice(0, 8)}`;
    const req = bed.checkpointRequest('bench', podUid, {
      container: 'app',
      checkpointId,
      deadlineMs: 300_000,
    });
    const frozenBefore = (await bed.progress(a, 'bench', 'app'))?.values['counter'] ?? 0;
    const t0 = performance.now();
    const cp = await call<Manifest>(a, 'POST', '/v1/checkpoints', bed.ids.workerToken, req);
    if (cp.status !== 200) throw new Error(`runc checkpoint: ${cp.status} ${JSON.stringify(cp.body)}`);
    const rs = await call<RestoreResponse>(b, 'POST', '/v1/restores', bed.ids.workerToken, {
      archives: archiveDigests(cp.body),
      manifest: { bucket: bed.bucket, key: `${req.s3.prefix}/manifest.json` },
      target: { namespace: bed.ids.namespace, pod: 'bench' },
    });
    if (rs.status !== 200) throw new Error(`runc restore: ${rs.status} ${JSON.stringify(rs.body)}`);
    bed.track(b, 'bench', 'app');
    await waitFor(
      'the restored process to count on',
      async () => ((await bed.progress(b, 'bench', 'app'))?.values['counter'] ?? 0) > frozenBefore,
      { timeoutMs: 120_000, intervalMs: 50 },
    );
    const tRunning = performance.now();
    const c = cp.body.containers[0]!;
    const r = rs.body.containers[0]!;
    return {
      path: 'runc (agent-run)',
      bytesRaw: c.bytesRaw,
      bytesCompressed: c.bytesCompressed,
      dumpMs: c.timings.checkpointMs,
      uploadMs: c.timings.uploadMs,
      downloadMs: r.downloadMs,
      restoreMs: r.restoreMs,
      freezeMs: tRunning - t0,
    };
  } finally {
    await bed.close();
  }
}

const results: Figures[] = [];
results.push(await kubeletPath());
results.push(await runcPath());

console.log(`\n${mib} MiB counter, moved between two nodes (one run each, same machine)\n`);
console.log(
  ['path', 'raw', 'zstd', 'dump', 'zstd + upload', 'download + verify (+ import)', 'restore', 'freeze'].join(
    ' | ',
  ),
);
for (const f of results) {
  console.log(
    [
      f.path,
      `${(f.bytesRaw / 2 ** 20).toFixed(0)} MiB`,
      `${(f.bytesCompressed / 2 ** 20).toFixed(0)} MiB`,
      s(f.dumpMs),
      s(f.uploadMs),
      s(f.downloadMs),
      s(f.restoreMs),
      s(f.freezeMs),
    ].join(' | '),
  );
}
const [k, r] = results as [Figures, Figures];
console.log(`\nfreeze, kubelet path / runc path: ${(k.freezeMs / r.freezeMs).toFixed(2)}`);
mkdirSync(dirname(args.json), { recursive: true });
writeFileSync(args.json, JSON.stringify({ mib, results }, null, 2));
