import { planCheckpoints } from '../services/agent/checkpoint-plan.js';

/** What one node's checkpoints cost on this machine when every interrupted node checkpoints at once. */
export interface PodTimeModel {
  /** The part of a checkpoint that does not grow with memory (ms). */
  overheadMs: number;
  /** Raw bytes per second one node moves while all interrupted nodes move theirs. */
  nodeBytesPerSec: number;
}

export interface OraclePod {
  node: string;
  bytes: number;
  /** ms after the warning by which its archive must be stored. */
  cutoffMs: number;
}

export function podTimeMs(model: PodTimeModel, bytes: number): number {
  return model.overheadMs + (bytes / model.nodeBytesPerSec) * 1000;
}

/**
 * The most pods any schedule could have stored before their cut-offs, given
 * the measured per-pod times: each node is one machine moving its pods one
 * after another at its measured share of the throughput (running several at
 * once only splits that share), so the best schedule is the one that stores
 * the most jobs on one machine before their due dates, which the agent's own
 * plan computes exactly (Moore-Hodgson, one slot).
 */
export function oracleStored(model: PodTimeModel, pods: OraclePod[]): number {
  const byNode = new Map<string, OraclePod[]>();
  for (const p of pods) byNode.set(p.node, [...(byNode.get(p.node) ?? []), p]);
  let stored = 0;
  for (const nodePods of byNode.values()) {
    const plan = planCheckpoints({
      now: 0,
      slots: 1,
      runningEnds: [],
      waiting: nodePods.map((p, i) => ({
        id: String(i),
        durationMs: podTimeMs(model, p.bytes),
        cutoff: p.cutoffMs,
        workMs: 0,
      })),
    });
    stored += plan.run.length;
  }
  return stored;
}

/**
 * Scales the pods' sizes so their total is `load` times what the machine
 * can move before the cut-off (capacity x window), keeping their shape; no
 * pod below `minMiB`.
 */
export function sizesForLoad(
  shape: number[],
  o: { load: number; capacityMiBps: number; windowSeconds: number; minMiB: number },
): number[] {
  const target = o.load * o.capacityMiBps * o.windowSeconds;
  const total = shape.reduce((a, b) => a + b, 0);
  const f = total > 0 ? target / total : 0;
  return shape.map((m) => Math.max(o.minMiB, Math.round(m * f)));
}

/**
 * Why the processes of a run would not fit in this machine's memory, if
 * they would not: their total may use at most `share` of what the kernel
 * reports available (the machine is shared, and the checkpoints' images and
 * zstd buffers need room too). Undefined: they fit.
 */
export function memoryShortfall(totalMiB: number, availableMiB: number, share = 0.7): string | undefined {
  const allowed = availableMiB * share;
  if (totalMiB <= allowed) return undefined;
  return `the processes need ${Math.round(totalMiB)} MiB of memory; this machine has ${Math.round(availableMiB)} MiB available, of which ${Math.round(share * 100)} % (${Math.round(allowed)} MiB) may be used`;
}

/** MemAvailable from /proc/meminfo's text, in MiB. */
export function availableMiB(meminfo: string): number {
  const kib = /^MemAvailable:\s+(\d+) kB$/m.exec(meminfo)?.[1];
  if (kib === undefined) throw new Error('no MemAvailable in /proc/meminfo');
  return Number(kib) / 1024;
}
