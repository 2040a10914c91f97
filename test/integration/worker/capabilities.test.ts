import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { MigrateResult } from '../../../services/worker/migrate.js';
import { counterContainer, eventRef, isReady, TestBed, waitFor } from './harness.js';

/**
 * What a node's agent says it can do decides what the worker asks of it: a
 * node without CRIU is never a restore target (even the on-demand node the
 * score prefers), and a pod on such a node is drained at once, never frozen
 * for a checkpoint that cannot happen.
 */
describe('worker: node capabilities', () => {
  const bed = new TestBed('wcap');
  const source = bed.node('src');
  const noCriu = bed.node('nocriu');
  const ok = bed.node('ok');
  const container = () => counterContainer({ requests: { cpu: '100m', memory: '64Mi' } });

  before(async () => {
    await bed.setUp({
      nodes: [
        { suffix: 'src' },
        {
          suffix: 'nocriu',
          unschedulable: true,
          capacityType: 'on-demand',
          agentEnv: { SPOT_RESCUE_CRIU: '/nonexistent/criu' },
        },
        { suffix: 'ok', unschedulable: true },
      ],
    });
    await bed.startWorker();
  });

  after(() => bed.close());

  test('a node that cannot restore is passed over for one that can', async () => {
    await bed.createPod('solo', bed.podSpec([container()]));
    const [original] = await bed.podsToMove(source, 1, [noCriu, ok]);
    const [r] = await bed.migrateAll(eventRef(120_000), { name: source, instanceId: 'i-0123456789abcdef6' }, [
      original!,
    ]);
    assert.equal(r?.outcome, 'restored', JSON.stringify(r));
    assert.equal(r?.target, ok, 'restored where CRIU is, not on the preferred on-demand node');
  });

  test('a pod on a node that cannot checkpoint is drained at once and never frozen', async () => {
    await bed.createPod('stuck', bed.podSpec([container()], { nodeName: noCriu }));
    const [pod] = await bed
      .waitPods('the pod on the node without CRIU', (pods) =>
        pods.some((p) => p.metadata?.name === 'stuck' && isReady(p)),
      )
      .then((pods) => pods.filter((p) => p.metadata?.name === 'stuck'));
    await bed.startCounters(noCriu, [pod!]);
    await bed.markInterrupted(noCriu);
    const [r] = (await bed.migrateAll(
      eventRef(120_000),
      { name: noCriu, instanceId: 'i-0123456789abcdef7' },
      [pod!],
      60_000,
    )) as MigrateResult[];
    assert.equal(r?.outcome, 'evicted', JSON.stringify(r));
    assert.match(r?.reason ?? '', /cannot checkpoint/);
    const events = (await bed.k.core.listNamespacedEvent({ namespace: bed.ns })).items.filter(
      (e) => e.involvedObject.name === 'stuck',
    );
    assert.equal(events.filter((e) => e.reason === 'RescueStarted').length, 0, 'no checkpoint was started');
    // Its process ran on untouched until the drain: it counts on.
    const before = (await bed.counterOf(noCriu, 'stuck'))?.progress?.['counter'] ?? 0;
    await waitFor('the counter to go on', async () => {
      const c = await bed.counterOf(noCriu, 'stuck');
      return c?.status === 'running' && (c.progress?.['counter'] ?? 0) > before ? true : undefined;
    });
  });
});
