import type { V1Pod } from '@kubernetes/client-node';
import { checkpointMemoryEstimate } from '../../common/pod-memory.js';
import { type BudgetPlan, type BudgetRateSource, budgetRateSource, planBudget } from '../budget.js';
import type { Run } from './context.js';

/**
 * Whether a checkpoint of this pod can finish before the node dies, with time
 * left to drain it if not. The rate is the one the source node's agent last
 * measured when there is one (its answers report it); else the worker's own
 * estimate, with which a pod that looks out of budget is still asked of the
 * agent, since it answers at once from what it measured and has queued,
 * where the worker would only be guessing.
 */
export function budgetFor(run: Run, original: V1Pod): BudgetPlan & { rateSource: BudgetRateSource } {
  const { d } = run;
  const node = run.job.node.name;
  const measured = d.agentRates.measured(node);
  const plan = planBudget({
    now: run.now(),
    deadline: run.deadline,
    memoryBytes: checkpointMemoryEstimate(original, d.config.defaultMemoryMiB * 2 ** 20),
    throughputBytesPerSec: measured ?? d.throughput.bytesPerSec,
    throughputSource:
      measured === undefined ? `assumed (nothing measured on ${node} yet)` : `measured on ${node}`,
    agentJudges: measured === undefined,
    fixedOverheadMs: d.config.checkpointOverheadMs,
    safetyFactor: d.config.safetyFactor,
    safetyMarginMs: d.config.safetyMarginMs,
    gracePeriodSeconds: original.spec?.terminationGracePeriodSeconds ?? 30,
    maxFallbackGraceMs: d.config.maxFallbackGraceSeconds * 1000,
    evictionLeadMs: d.config.evictionLeadMs,
  });
  const rateSource = budgetRateSource(plan, measured !== undefined);
  if (plan.action === 'migrate')
    run.log.info(
      {
        estimateMs: plan.estimateMs,
        checkpointBy: new Date(plan.checkpointBy).toISOString(),
        rate: plan.rate,
      },
      plan.deferredToAgent
        ? `out of the worker's budget at ${plan.rate}; the source agent decides`
        : `checkpoint budget at ${plan.rate}`,
    );
  return { ...plan, rateSource };
}

/** Counts the pod's budget decision once (budgetFor also runs for retries, which decide nothing new). */
export function countBudgetDecision(run: Run, plan: ReturnType<typeof budgetFor>): void {
  run.d.metrics.budgetDecisions.inc({
    rate_source: plan.rateSource,
    decision: plan.action === 'migrate' ? 'checkpoint' : 'drain',
  });
}
