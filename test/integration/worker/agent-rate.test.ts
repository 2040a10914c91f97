import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import type { MigrateResult } from '../../../services/worker/migrate.js';
import { counterContainer, eventRef, TestBed } from './harness.js';

/**
 * Whose rate decides: the worker's own (1 MiB/s here) only until the node's
 * agent has measured one. A pod out of the worker's budget on its own guess
 * is asked of the agent, which takes it; once a checkpoint there is stored,
 * the agent's answers carry the rate it measured, and the worker gates that
 * node's next pods with it. The agent starts from 1.5 MiB/s assumed, so its
 * first real checkpoint gives it a measured figure of its own. The second
 * test builds on the first's checkpoint.
 */
describe('worker: whose throughput gates a checkpoint', () => {
  const bed = new TestBed('wrate');
  const source = bed.node('src');
  const spare = bed.node('spare');
  const node = { name: source, instanceId: 'i-0123456789abcdef7' };
  let pods: V1Pod[] = [];
  const pod = (name: string) => pods.find((p) => p.metadata?.name === name) as V1Pod;

  before(async () => {
    await bed.setUp({
      nodes: [
        { suffix: 'src', agentEnv: { SPOT_RESCUE_AGENT_ASSUMED_CHECKPOINT_MIBPS: '1.5' } },
        { suffix: 'spare', unschedulable: true },
      ],
    });
    await bed.startWorker({ extra: { SPOT_RESCUE_THROUGHPUT_MIBPS: '1' } });
    const small = { requests: { cpu: '100m', memory: '64Mi' }, limits: { memory: '64Mi' } };
    // 12 GiB of limit: many minutes at any rate this machine's agents measure; 110 s to its cut-off.
    const large = { requests: { cpu: '100m', memory: '64Mi' }, limits: { memory: '12Gi' } };
    await bed.createPod('first', bed.podSpec([counterContainer(small)]));
    await bed.createPod(
      'large',
      bed.podSpec([counterContainer(large)], { terminationGracePeriodSeconds: 5 }),
    );
    pods = await bed.podsToMove(source, 2, [spare]);
  });

  after(() => bed.close());

  test("a pod out of the worker's assumed budget is asked of its agent, which takes it", async () => {
    // 64 MiB at the worker's 1 MiB/s, with its 3 s overhead and 1.5 safety factor: ~100 s, 85 s left.
    // The agent plans ~44 s at its own 1.5 MiB/s (~60 s with its 1.35x admission margin) and accepts.
    const [r] = (await bed.migrateAll(eventRef(120_000), node, [pod('first')])) as MigrateResult[];
    assert.equal(r?.outcome, 'restored', JSON.stringify(r));
    const events = (await bed.k.core.listNamespacedEvent({ namespace: bed.ns })).items.filter(
      (e) => e.involvedObject.name === 'first',
    );
    const said = (reason: string) => events.find((e) => e.reason === reason)?.message ?? '';
    // The worker's ~100 s would be no estimate at all: the event says who decides, then what it estimated.
    assert.match(said('RescueStarted'), /if its agent accepts: the source agent decides/);
    assert.match(
      said('CheckpointAccepted'),
      new RegExp(`^${source}'s agent accepted the checkpoint: stored by ~.* at 1\\.5 MiB/s assumed\\)$`),
    );
    assert.equal(await decisions('deferred', 'checkpoint'), 1, 'counted as deferred to the agent');
  });

  test("after a stored checkpoint, a pod too large for the node's measured rate is drained without asking", async () => {
    const [r] = (await bed.migrateAll(eventRef(120_000), node, [pod('large')])) as MigrateResult[];
    assert.equal(r?.outcome, 'evicted', JSON.stringify(r));
    // Decided by the worker's budget at the agent's figure; without it the worker would have asked the
    // agent, and the reason would be the agent's refusal (would-miss-deadline).
    assert.match(r?.reason ?? '', new RegExp(`^out of budget: .* at [0-9.]+ MiB/s measured on ${source} `));
    const events = (await bed.k.core.listNamespacedEvent({ namespace: bed.ns })).items.filter(
      (e) => e.involvedObject.name === 'large',
    );
    assert.equal(events.filter((e) => e.reason === 'RescueStarted').length, 0, 'no checkpoint was started');
    assert.equal(await decisions('measured', 'drain'), 1);
  });

  /** The worker's count of budget decisions by rate source. */
  async function decisions(rateSource: string, decision: string): Promise<number> {
    const m = await bed.worker!.metrics.budgetDecisions.get();
    return (
      m.values.find((v) => v.labels.rate_source === rateSource && v.labels.decision === decision)?.value ?? 0
    );
  }
});
