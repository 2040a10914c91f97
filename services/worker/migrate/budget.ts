import type { V1Pod } from '@kubernetes/client-node';
import { checkpointMemoryEstimate } from '../../common/pod-memory.js';
import { type BudgetPlan, planBudget } from '../budget.js';
import type { Run } from './context.js';

/** Whether a checkpoint of this pod can finish before the node dies, with time left to drain it if not. */
export function budgetFor(run: Run, original: V1Pod): BudgetPlan {
  const { d } = run;
  return planBudget({
    now: run.now(),
    deadline: run.deadline,
    memoryBytes: checkpointMemoryEstimate(original, d.config.defaultMemoryMiB * 2 ** 20),
    throughputBytesPerSec: d.throughput.bytesPerSec,
    fixedOverheadMs: d.config.checkpointOverheadMs,
    safetyFactor: d.config.safetyFactor,
    safetyMarginMs: d.config.safetyMarginMs,
    gracePeriodSeconds: original.spec?.terminationGracePeriodSeconds ?? 30,
    maxFallbackGraceMs: d.config.maxFallbackGraceSeconds * 1000,
    evictionLeadMs: d.config.evictionLeadMs,
  });
}
