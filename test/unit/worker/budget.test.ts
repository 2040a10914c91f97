import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Manifest } from '../../../services/common/agent-api.js';
import {
  type BudgetInput,
  budgetRateSource,
  fallbackGraceSeconds,
  manifestThroughput,
  planBudget,
  ThroughputEstimate,
} from '../../../services/worker/budget.js';

const MiB = 2 ** 20;
const now = Date.parse('2026-01-01T00:00:00Z');

function b(o: Partial<BudgetInput> = {}): BudgetInput {
  return {
    now,
    deadline: now + 120_000,
    memoryBytes: 512 * MiB,
    throughputBytesPerSec: 64 * MiB,
    fixedOverheadMs: 2000,
    safetyFactor: 1.5,
    safetyMarginMs: 10_000,
    gracePeriodSeconds: 30,
    maxFallbackGraceMs: 30_000,
    evictionLeadMs: 5_000,
    ...o,
  };
}

describe('planBudget', () => {
  it('migrates when the estimate fits with the margin', () => {
    const p = planBudget(b());
    assert.equal(p.action, 'migrate');
    assert.equal(p.estimateMs, 2000 + 8000);
    if (p.action !== 'migrate') return;
    // 30 s grace + 5 s lead are kept back for a fallback eviction.
    assert.equal(p.checkpointBy, now + 85_000);
    assert.equal(p.marginMs, 75_000);
  });

  const table: Array<[string, Partial<BudgetInput>, 'migrate' | 'evict']> = [
    ['large memory at low throughput', { memoryBytes: 8 * 1024 * MiB }, 'evict'],
    ['late warning: 40 s left', { deadline: now + 40_000 }, 'evict'],
    ['late warning, short grace: 40 s left', { deadline: now + 40_000, gracePeriodSeconds: 5 }, 'migrate'],
    ['deadline passed', { deadline: now - 1 }, 'evict'],
    ['safety factor tips it over', { memoryBytes: 4000 * MiB, safetyFactor: 1 }, 'migrate'],
    ['safety factor tips it over (1.5)', { memoryBytes: 4000 * MiB, safetyFactor: 1.5 }, 'evict'],
    [
      'margin dominates a zero grace',
      { gracePeriodSeconds: 0, deadline: now + 19_000, memoryBytes: 0 },
      'migrate',
    ],
    [
      'margin dominates a zero grace (too late)',
      { gracePeriodSeconds: 0, deadline: now + 12_000, memoryBytes: 0 },
      'evict',
    ],
  ];
  for (const [name, o, want] of table) {
    it(name, () => assert.equal(planBudget(b(o)).action, want));
  }

  it("names the rate it used in an eviction's reason", () => {
    const p = planBudget(b({ memoryBytes: 8 * 1024 * MiB, throughputSource: 'measured on node-a' }));
    assert.equal(p.action, 'evict');
    if (p.action === 'evict')
      assert.match(p.reason, /at 64 MiB\/s measured on node-a but only 85000 ms remain/);
    const q = planBudget(b({ memoryBytes: 8 * 1024 * MiB }));
    if (q.action === 'evict') assert.match(q.reason, /at 64 MiB\/s assumed/);
  });

  describe('a pod out of the assumed budget, when the source agent judges it', () => {
    it('is left to the agent while the cut-off is ahead', () => {
      const p = planBudget(b({ memoryBytes: 8 * 1024 * MiB, agentJudges: true }));
      assert.equal(p.action, 'migrate');
      if (p.action !== 'migrate') return;
      assert.equal(p.deferredToAgent, true);
      assert.equal(p.checkpointBy, now + 85_000, 'the same cut-off: the agent cannot hold it longer');
      assert.equal(p.estimateMs, 2000 + 128_000, "the worker's own estimate, for its retries");
    });

    it('is drained when not even the fixed part of a checkpoint fits before the cut-off', () => {
      // 2.5 s to the cut-off (35 s kept for the drain); 2 s of overhead times 1.5 needs 3.
      assert.equal(planBudget(b({ deadline: now + 37_500, agentJudges: true })).action, 'evict');
      assert.equal(planBudget(b({ deadline: now + 38_000, agentJudges: true })).action, 'migrate');
      assert.equal(planBudget(b({ deadline: now - 1, agentJudges: true })).action, 'evict');
    });

    it('a pod that fits is not marked deferred', () => {
      const p = planBudget(b({ agentJudges: true }));
      assert.ok(p.action === 'migrate' && !p.deferredToAgent);
    });
  });

  it('an eviction gets what is left of the grace period', () => {
    const p = planBudget(b({ deadline: now + 20_000 }));
    assert.equal(p.action, 'evict');
    if (p.action === 'evict') assert.equal(p.gracePeriodSeconds, 15);
    assert.equal(fallbackGraceSeconds(b({ deadline: now + 200_000 })), 30);
    assert.equal(fallbackGraceSeconds(b({ deadline: now })), 0);
  });
});

describe('throughput estimate', () => {
  const manifest = (bytesRaw: number, totalMs: number): Manifest => ({
    version: 1,
    checkpointId: 'c1',
    cluster: 'local',
    namespace: 'ns',
    pod: 'p',
    podUid: 'u',
    sourceNode: 'n',
    runtime: 'runc',
    criuVersion: '4.1.1',
    createdAt: new Date(now).toISOString(),
    completedAt: new Date(now).toISOString(),
    containers: [
      {
        name: 'c',
        key: 'k',
        bytesRaw,
        bytesCompressed: bytesRaw,
        sha256: 'a'.repeat(64),
        timings: { checkpointMs: totalMs / 2, uploadMs: totalMs / 2, totalMs },
      },
    ],
  });

  it('derives throughput from a manifest net of the fixed overhead', () => {
    assert.equal(manifestThroughput(manifest(100 * MiB, 3000), 1000), 50 * MiB);
    assert.equal(manifestThroughput(manifest(1000, 3000), 1000), null, 'tiny dumps say nothing');
    assert.equal(
      manifestThroughput(manifest(8 * MiB, 3000), 1000),
      null,
      'an 8 MiB dump is mostly overhead: it must not drag the estimate down',
    );
    assert.equal(manifestThroughput(manifest(64 * MiB, 2000), 1000), 64 * MiB, 'from 64 MiB on it counts');
  });

  it('moves towards samples, faster downwards', () => {
    const e = new ThroughputEstimate(100, 0.25);
    e.observe(200);
    assert.equal(e.bytesPerSec, 125);
    e.observe(25);
    assert.equal(e.bytesPerSec, 75);
    e.observe(null);
    e.observe(Number.NaN);
    assert.equal(e.bytesPerSec, 75);
  });
});

describe('budget rate source (the budget-decision counter)', () => {
  it("a rate the node's agent measured is 'measured', whatever was decided", () => {
    assert.equal(budgetRateSource(planBudget(b()), true), 'measured');
    assert.equal(budgetRateSource(planBudget(b({ throughputBytesPerSec: MiB })), true), 'measured');
  });

  it("on the worker's assumption: 'deferred' when the agent is asked instead of draining, else 'assumed'", () => {
    const outOfBudget = b({ throughputBytesPerSec: MiB, agentJudges: true });
    assert.equal(budgetRateSource(planBudget(outOfBudget), false), 'deferred');
    assert.equal(budgetRateSource(planBudget(b({ agentJudges: true })), false), 'assumed', 'in budget');
    assert.equal(
      budgetRateSource(planBudget(b({ throughputBytesPerSec: MiB })), false),
      'assumed',
      'drained',
    );
  });
});
