import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { eventRef, isReady, TestBed, waitFor } from './harness.js';

/**
 * Too little time before the node dies: the worker does not start a
 * checkpoint it cannot finish, and drains the pods instead, retrying while a
 * PodDisruptionBudget refuses and deleting once only the grace period is left.
 */
describe('worker: out of budget falls back to eviction', () => {
  const bed = new TestBed('wfb');
  const { k, ns } = bed;
  const source = bed.node('src');
  const spare = bed.node('spare');

  before(async () => {
    await bed.setUp({
      nodes: [
        { suffix: 'src', agent: false },
        { suffix: 'spare', unschedulable: true, agent: false },
      ],
    });
    // No agent at all: a checkpoint attempted here would fail, so an eviction proves the budget said no first.
    await bed.startWorker({ agents: {}, extra: { SPOT_RESCUE_EVICTION_LEAD_MS: '2000' } });
  });

  after(() => bed.close());

  test('pods are evicted (PDB retried, then deleted) and their controller replaces them elsewhere', async () => {
    const memory = { requests: { memory: '1Gi' }, limits: { memory: '1Gi' } };
    await bed.createDeployment(
      'web',
      2,
      bed.podSpec([{ name: 'c', image: 'x', resources: memory }], { terminationGracePeriodSeconds: 1 }),
    );
    // A budget that allows no disruption: only the deadline can override it.
    await k.policy.createNamespacedPodDisruptionBudget({
      namespace: ns,
      body: {
        metadata: { name: 'web' },
        spec: { minAvailable: 2, selector: { matchLabels: { app: 'web' } } },
      },
    });
    const originals = await bed.waitPods(
      'two pods on the source node',
      (pods) => pods.length === 2 && pods.every(isReady),
    );
    await waitFor('the PDB to see them', async () => {
      const pdb = await k.policy.readNamespacedPodDisruptionBudget({ name: 'web', namespace: ns });
      return pdb.status?.currentHealthy === 2;
    });
    await bed.markInterrupted(source);
    await bed.setSchedulable(spare, true);
    // 12 s left: 1 GiB at the default 50 MiB/s needs ~20 s, so the budget says evict.
    const event = eventRef(12_000);
    const node = { name: source, instanceId: 'i-0123456789abcdef1' };
    const results = await bed.migrateAll(event, node, originals, 60_000);
    for (const r of results) {
      assert.equal(r.outcome, 'evicted');
      assert.match(r.reason ?? '', /out of budget/);
    }
    const replaced = await bed.waitPods(
      'the Deployment to replace both pods on the spare node',
      (pods) => pods.length === 2 && pods.every((p) => isReady(p) && p.spec?.nodeName === spare),
      60_000,
    );
    assert.ok(replaced.every((p) => !originals.some((o) => o.metadata?.uid === p.metadata?.uid)));
    const events = (await k.core.listNamespacedEvent({ namespace: ns })).items;
    assert.equal(events.filter((e) => e.reason === 'RescueFellBackToEviction').length, 2);
    assert.equal(events.filter((e) => e.reason === 'RescueStarted').length, 0, 'no checkpoint was started');
  });
});
