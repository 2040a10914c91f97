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
export function oracleStored(
  model: PodTimeModel | ((node: string) => PodTimeModel),
  pods: OraclePod[],
): number {
  const byNode = new Map<string, OraclePod[]>();
  for (const p of pods) byNode.set(p.node, [...(byNode.get(p.node) ?? []), p]);
  let stored = 0;
  for (const [node, nodePods] of byNode) {
    const nodeModel = typeof model === 'function' ? model(node) : model;
    const plan = planCheckpoints({
      now: 0,
      slots: 1,
      running: [],
      waiting: nodePods.map((p, i) => ({
        id: String(i),
        durationMs: podTimeMs(nodeModel, p.bytes),
        cutoff: p.cutoffMs,
        workMs: 0,
      })),
    });
    stored += plan.run.length;
  }
  return stored;
}

/** One pod of the burst as the services reported it: its node, its raw bytes and when its archive was stored. */
export interface BurstPod {
  node: string;
  bytes: number;
  /** Epoch ms its last archive was stored; absent: none was. */
  storedAt?: number | undefined;
}

/**
 * What each node moved during the burst itself: the raw bytes it stored
 * over the time from the delivery to its last archive, less each stored
 * pod's fixed cost. A node's agent starts its queue at the delivery and
 * keeps it busy until its last archive, so this is the rate the node held;
 * a node that stored nothing has no rate (left out). On this one 2-core
 * machine the burst moved 1.24 to 1.7x less than the calibration just
 * before it (restores, the doomed nodes' agents and the workloads share the
 * cores; on EKS each node has its own), so an oracle at the calibration's
 * rate asks for pods no schedule could have stored at the burst's.
 */
export function burstRates(pods: BurstPod[], deliveredAt: number, overheadMs: number): Map<string, number> {
  const byNode = new Map<string, { bytes: number; stored: number; lastAt: number }>();
  for (const p of pods) {
    if (p.storedAt === undefined || !(p.bytes > 0)) continue;
    const n = byNode.get(p.node) ?? { bytes: 0, stored: 0, lastAt: deliveredAt };
    n.bytes += p.bytes;
    n.stored++;
    n.lastAt = Math.max(n.lastAt, p.storedAt);
    byNode.set(p.node, n);
  }
  const rates = new Map<string, number>();
  for (const [node, n] of byNode) {
    const spanMs = n.lastAt - deliveredAt;
    // Fixed costs that fill the whole span (a calibration overhead larger than this burst's) would make the rate unbounded.
    const dataMs = spanMs - n.stored * overheadMs > 0 ? spanMs - n.stored * overheadMs : spanMs;
    if (dataMs > 0) rates.set(node, (n.bytes / dataMs) * 1000);
  }
  return rates;
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
