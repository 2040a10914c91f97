import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { agentThroughputSchema, checkpointStatusSchema } from '../../../services/common/agent-api.js';
import { AgentRates } from '../../../services/worker/agent-rates.js';

const MiB = 2 ** 20;

describe("agents' measured rates", () => {
  it("keeps each node's latest measured rate, and never an assumed one", () => {
    const r = new AgentRates();
    r.observe('a', { bytesPerSec: 32 * MiB, basis: 'assumed' });
    assert.equal(r.measured('a'), undefined);
    r.observe('a', { bytesPerSec: 80 * MiB, basis: 'measured' });
    r.observe('a', { bytesPerSec: 120 * MiB, basis: 'measured' });
    r.observe('a', { bytesPerSec: 32 * MiB, basis: 'assumed' }); // the agent restarted: what it measured still holds
    r.observe('a', undefined);
    assert.equal(r.measured('a'), 120 * MiB);
    assert.equal(r.measured('b'), undefined);
  });

  it('forgets a rate after a while, and the longest unheard node past its size', () => {
    let now = 0;
    const r = new AgentRates({ maxAgeMs: 1000, maxNodes: 2, now: () => now });
    r.observe('a', { bytesPerSec: MiB, basis: 'measured' });
    r.observe('b', { bytesPerSec: MiB, basis: 'measured' });
    r.observe('a', { bytesPerSec: 2 * MiB, basis: 'measured' });
    r.observe('c', { bytesPerSec: MiB, basis: 'measured' });
    assert.equal(r.measured('b'), undefined, 'b was heard from longest ago');
    assert.equal(r.measured('a'), 2 * MiB);
    now = 1001;
    assert.equal(r.measured('a'), undefined);
  });
});

describe("an agent's reported rate", () => {
  const status = { checkpointId: 'c1', state: 'queued' };
  it('is bounded: out of bounds it is dropped, not failing the answer it came with', () => {
    for (const bytesPerSec of [0, -1, 17 * 2 ** 30]) {
      assert.equal(agentThroughputSchema.safeParse({ bytesPerSec, basis: 'measured' }).success, false);
      const parsed = checkpointStatusSchema.parse({
        ...status,
        throughput: { bytesPerSec, basis: 'measured' },
      });
      assert.equal(parsed.throughput, undefined);
    }
    assert.equal(
      checkpointStatusSchema.parse({ ...status, throughput: { bytesPerSec: 1, basis: 'guessed' } })
        .throughput,
      undefined,
    );
    assert.deepEqual(
      checkpointStatusSchema.parse({ ...status, throughput: { bytesPerSec: 130 * MiB, basis: 'measured' } })
        .throughput,
      { bytesPerSec: 130 * MiB, basis: 'measured' },
    );
  });
});
