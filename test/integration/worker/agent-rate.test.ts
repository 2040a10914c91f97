import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { MigrateResult } from '../../../services/worker/migrate.js';
import { counterContainer, eventRef, TestBed } from './harness.js';

/**
 * The worker learns each node's rate from that node's agent: once a
 * checkpoint there is stored, the agent's answers say how fast the node
 * measured itself, and the worker gates that node's next pods with it rather
 * than with its own assumption. The agent starts from 1 MiB/s assumed, so its
 * first real checkpoint sets a measured figure of its own.
 */
describe("worker: a node's pods are gated with the rate its agent measured", () => {
  const bed = new TestBed('wrate');
  const source = bed.node('src');
  const spare = bed.node('spare');
  const node = { name: source, instanceId: 'i-0123456789abcdef7' };

  before(async () => {
    await bed.setUp({
      nodes: [
        { suffix: 'src', agentEnv: { SPOT_RESCUE_AGENT_ASSUMED_CHECKPOINT_MIBPS: '1' } },
        { suffix: 'spare', unschedulable: true },
      ],
    });
    await bed.startWorker();
  });

  after(() => bed.close());

  test("after one stored checkpoint, a pod too large for the node's measured rate is drained without asking", async () => {
    const small = { requests: { cpu: '100m', memory: '64Mi' }, limits: { memory: '64Mi' } };
    // 12 GiB of limit on a node that measured itself at tens of MiB/s: minutes, with 85 s to the cut-off.
    const large = { requests: { cpu: '100m', memory: '64Mi' }, limits: { memory: '12Gi' } };
    await bed.createPod('first', bed.podSpec([counterContainer(small)]));
    await bed.createPod(
      'large',
      bed.podSpec([counterContainer(large)], { terminationGracePeriodSeconds: 5 }),
    );
    const pods = await bed.podsToMove(source, 2, [spare]);
    const byName = (n: string) => pods.find((p) => p.metadata?.name === n)!;

    const [first] = (await bed.migrateAll(eventRef(120_000), node, [byName('first')])) as MigrateResult[];
    assert.equal(first?.outcome, 'restored', JSON.stringify(first));

    const [r] = (await bed.migrateAll(eventRef(120_000), node, [byName('large')])) as MigrateResult[];
    assert.equal(r?.outcome, 'evicted', JSON.stringify(r));
    // Decided by the worker's budget at the agent's figure; without it the worker would have asked the
    // agent, and the reason would be the agent's refusal (would-miss-deadline).
    assert.match(r?.reason ?? '', new RegExp(`^out of budget: .* at [0-9.]+ MiB/s measured on ${source} `));
    const events = (await bed.k.core.listNamespacedEvent({ namespace: bed.ns })).items.filter(
      (e) => e.involvedObject.name === 'large',
    );
    assert.equal(events.filter((e) => e.reason === 'RescueStarted').length, 0, 'no checkpoint was started');
  });
});
