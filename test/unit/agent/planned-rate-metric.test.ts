import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Registry } from 'prom-client';
import { AgentMetrics } from '../../../services/agent/metrics.js';
import { agentErrorSchema } from '../../../services/common/agent-api.js';

const MiB = 2 ** 20;

describe("the agent's planned rate", () => {
  test('is one series, under the basis in use: an alarm on basis="assumed" sees only nodes still guessing', async () => {
    const metrics = new AgentMetrics(new Registry());
    const series = async () =>
      (await metrics.checkpointRate.get()).values.map((v) => [v.labels.basis, v.value / MiB]);
    metrics.plannedRate({ bytesPerSec: 32 * MiB, basis: 'assumed' });
    assert.deepEqual(await series(), [['assumed', 32]]);
    metrics.plannedRate({ bytesPerSec: 17.5 * MiB, basis: 'measured' });
    assert.deepEqual(await series(), [['measured', 17.5]]);
  });
});

describe("a would-miss-deadline answer's figures", () => {
  const base = { error: 'would-miss-deadline', message: 'needs ~62 s at 17.2 MiB/s measured, 40 s left' };
  const plan = {
    neededMs: 62_000,
    leftMs: 40_000,
    durationMs: 60_000,
    admissionFactor: 1,
    throughput: { bytesPerSec: 17.2 * MiB, basis: 'measured' },
  };

  test('are read with the error', () => {
    assert.deepEqual(agentErrorSchema.parse({ ...base, plan }).plan, plan);
  });

  test('out of bounds are dropped, never failing the error they came with', () => {
    const bad = agentErrorSchema.parse({ ...base, plan: { ...plan, admissionFactor: 0.5 } });
    assert.equal(bad.plan, undefined);
    assert.equal(bad.message, base.message);
  });
});
