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
      running: [],
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

/**
 * Scales each node's pods so that every node is offered `load` times its
 * own share of the capacity (`capacityMiBps` over the nodes, each node's
 * share in the oracle's model), keeping the pods' shape within a node.
 * Scaling the total alone left one node above its share whenever the large
 * pods did not split evenly: at "0.8x" the node with the two largest of
 * four carried 1.06x of its share, and the oracle itself could not store
 * every pod.
 */
export function sizesForLoadPerNode(
  shapeByNode: number[][],
  o: { load: number; capacityMiBps: number; windowSeconds: number; minMiB: number },
): number[][] {
  const share = o.capacityMiBps / Math.max(1, shapeByNode.length);
  return shapeByNode.map((pods) => sizesForLoad(pods, { ...o, capacityMiBps: share }));
}

/**
 * Why a run is refused for memory, with what would make it fit, or
 * undefined when its processes fit. `shapeByNode` is the sizes as given;
 * with a `load`, they are scaled to load x capacity x the pipeline's window
 * (from the delivery to the cut-off), so a later delivery shrinks them in
 * proportion: the message names the smallest whole `--delivered-late` at
 * which the same load fits, or says that none does.
 */
export function memoryRefusal(o: {
  shapeByNode: number[][];
  load?: number;
  capacityMiBps: number;
  cutoffSeconds: number;
  lateSeconds: number;
  minMiB: number;
  availableMiB: number;
  share?: number;
}): string | undefined {
  const totalAt = (lateSeconds: number) =>
    (o.load === undefined
      ? o.shapeByNode
      : sizesForLoadPerNode(o.shapeByNode, {
          load: o.load,
          capacityMiBps: o.capacityMiBps,
          windowSeconds: o.cutoffSeconds - lateSeconds,
          minMiB: o.minMiB,
        })
    )
      .flat()
      .reduce((a, b) => a + b, 0);
  const shortfall = memoryShortfall(totalAt(o.lateSeconds), o.availableMiB, o.share);
  if (!shortfall) return undefined;
  if (o.load === undefined)
    return `${shortfall}; the sizes were given without --load, so a later delivery would not shrink them: give smaller sizes or a --load`;
  for (let late = Math.floor(o.lateSeconds) + 1; late < o.cutoffSeconds; late++) {
    if (memoryShortfall(totalAt(late), o.availableMiB, o.share)) continue;
    return `${shortfall}. The same ${o.load}x load fits with --delivered-late ${late}: warnings delivered ${late} s after AWS issued them leave ${Math.round(o.cutoffSeconds - late)} s from delivery to the worker's cut-off instead of ${Math.round(o.cutoffSeconds - o.lateSeconds)} s, and ${Math.round(totalAt(late))} MiB of processes`;
  }
  return `${shortfall}. No delivery delay makes a ${o.load}x load fit: even with 1 s left before the cut-off the ${o.shapeByNode.flat().length} processes need ${Math.round(totalAt(o.cutoffSeconds - 1))} MiB (no process under ${o.minMiB} MiB); run fewer pods`;
}

/** MemAvailable from /proc/meminfo's text, in MiB. */
export function availableMiB(meminfo: string): number {
  const kib = /^MemAvailable:\s+(\d+) kB$/m.exec(meminfo)?.[1];
  if (kib === undefined) throw new Error('no MemAvailable in /proc/meminfo');
  return Number(kib) / 1024;
}
