import type { Manifest } from '../common/agent-api.js';
import { mibOneDecimal } from '../common/quantity.js';

export interface BudgetInput {
  /** Epoch ms. */
  now: number;
  /** Epoch ms: when the source instance is expected to die. */
  deadline: number;
  /** Memory the checkpoint will dump (all containers). */
  memoryBytes: number;
  /** Running estimate of dump + compress + upload throughput, bytes per second. */
  throughputBytesPerSec: number;
  /** Where that figure comes from, in words for the decision's reason ("measured on <node>", "assumed"). */
  throughputSource?: string;
  /**
   * The source agent judges this checkpoint itself before freezing anything,
   * at once and with its own measured rate and queue, and nothing better than
   * the worker's assumption is known here: a pod this estimate puts out of
   * budget is left to the agent rather than drained, as long as the cut-off
   * leaves room for the fixed overhead alone.
   */
  agentJudges?: boolean;
  /** Per-checkpoint cost that does not scale with memory: freeze, API calls, manifest. */
  fixedOverheadMs: number;
  /** Estimates are multiplied by this before comparing with the time left (>= 1). */
  safetyFactor: number;
  /** The checkpoint must end at least this long before the deadline. */
  safetyMarginMs: number;
  /** The pod's terminationGracePeriodSeconds. */
  gracePeriodSeconds: number;
  /** The longest grace an eviction after a failed checkpoint is given (ms). */
  maxFallbackGraceMs: number;
  /** Time for the Eviction API round trips themselves. */
  evictionLeadMs: number;
}

export type BudgetPlan =
  | {
      action: 'migrate';
      estimateMs: number;
      /** Epoch ms: abort the checkpoint past this and evict instead. */
      checkpointBy: number;
      /** Time expected to be left at checkpointBy once the upload completes (negative when deferred). */
      marginMs: number;
      /** The rate the estimate used, in words: "50 MiB/s assumed", "130 MiB/s measured on <node>". */
      rate: string;
      /** Out of budget by this estimate, but asked of the agent, which decides (agentJudges). */
      deferredToAgent: boolean;
    }
  | { action: 'evict'; reason: string; estimateMs: number; gracePeriodSeconds: number };

/**
 * Where the rate a budget decision used came from: the node's agent measured
 * it; the worker's own assumption decided; or the assumption put the pod out
 * of budget and the agent was asked instead (deferred).
 */
export type BudgetRateSource = 'measured' | 'assumed' | 'deferred';

export const BUDGET_RATE_SOURCES: readonly BudgetRateSource[] = ['measured', 'assumed', 'deferred'];

/** The decision's rate source, for the worker's count of budget decisions. */
export function budgetRateSource(plan: BudgetPlan, measured: boolean): BudgetRateSource {
  if (measured) return 'measured';
  return plan.action === 'migrate' && plan.deferredToAgent ? 'deferred' : 'assumed';
}

export function estimateCheckpointMs(memoryBytes: number, throughputBytesPerSec: number, fixedMs: number) {
  return Math.ceil(fixedMs + (memoryBytes / Math.max(1, throughputBytesPerSec)) * 1000);
}

/**
 * Whether a pod can be checkpointed and uploaded before its node dies, and
 * by when the checkpoint must be done. Only checkpoint + upload race the
 * deadline (restore may finish later); what is left after the cut-off must
 * still cover a graceful eviction if the checkpoint fails.
 */
export function planBudget(b: BudgetInput): BudgetPlan {
  const estimateMs = estimateCheckpointMs(b.memoryBytes, b.throughputBytesPerSec, b.fixedOverheadMs);
  const fallbackReserveMs = Math.min(b.gracePeriodSeconds * 1000, b.maxFallbackGraceMs) + b.evictionLeadMs;
  const checkpointBy = b.deadline - Math.max(fallbackReserveMs, b.safetyMarginMs);
  const safety = Math.max(1, b.safetyFactor);
  const needed = estimateMs * safety;
  const rate = `${mibPerSec(b.throughputBytesPerSec)} MiB/s ${b.throughputSource ?? 'assumed'}`;
  const fits = b.now + needed <= checkpointBy;
  if (fits || (b.agentJudges && b.now + b.fixedOverheadMs * safety <= checkpointBy)) {
    const marginMs = checkpointBy - b.now - estimateMs;
    return { action: 'migrate', estimateMs, checkpointBy, marginMs, rate, deferredToAgent: !fits };
  }
  const left = b.deadline - b.now;
  const reason =
    left <= 0
      ? 'deadline already passed'
      : `checkpoint needs ~${needed} ms at ${rate} but only ${Math.max(0, checkpointBy - b.now)} ms remain before the cut-off`;
  return { action: 'evict', reason, estimateMs, gracePeriodSeconds: fallbackGraceSeconds(b) };
}

/** Bytes per second as MiB/s to one decimal, for reasons and logs. */
export const mibPerSec = mibOneDecimal;

/** The grace an eviction started now can give: the pod's own, or what is left before the deadline. */
export function fallbackGraceSeconds(
  b: Pick<BudgetInput, 'now' | 'deadline' | 'gracePeriodSeconds' | 'evictionLeadMs'>,
): number {
  const leftSeconds = Math.floor((b.deadline - b.now - b.evictionLeadMs) / 1000);
  return Math.max(0, Math.min(b.gracePeriodSeconds, leftSeconds));
}

/** The smallest checkpoint whose timing feeds the throughput estimate. */
export const MIN_SAMPLE_BYTES = 64 * 2 ** 20;

/**
 * Throughput (bytes/s) observed in a manifest: raw memory over the time from
 * dump start to upload completed, per container, minus the fixed overhead.
 */
export function manifestThroughput(m: Manifest, fixedOverheadMs: number): number | null {
  let bytesRaw = 0;
  let ms = 0;
  for (const c of m.containers) {
    bytesRaw += c.bytesRaw;
    ms += Math.max(c.timings.totalMs, c.timings.checkpointMs + c.timings.uploadMs);
  }
  const variableMs = ms - fixedOverheadMs * m.containers.length;
  // Small checkpoints are mostly overhead and say little about throughput: in
  // a burst of 8 MiB pods their samples dragged the estimate to a few MiB/s,
  // and every large pod after them was evicted as out of budget.
  if (bytesRaw < MIN_SAMPLE_BYTES || variableMs <= 0) return null;
  return (bytesRaw / variableMs) * 1000;
}

/**
 * Exponentially weighted running estimate, leaning to the slower side: a
 * slower sample is taken in more strongly than a faster one, because
 * overestimating throughput loses pods and underestimating only evicts them.
 * It is one figure for the whole cluster, used for a node whose agent has
 * measured nothing of its own (AgentRates holds what each agent measured).
 */
export class ThroughputEstimate {
  constructor(
    private value: number,
    private readonly alpha = 0.3,
  ) {}

  get bytesPerSec(): number {
    return this.value;
  }

  observe(sample: number | null): void {
    if (sample === null || !Number.isFinite(sample) || sample <= 0) return;
    const a = sample < this.value ? Math.min(1, this.alpha * 2) : this.alpha;
    this.value = this.value + a * (sample - this.value);
  }
}
