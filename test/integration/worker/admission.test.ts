import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type V1Pod, Watch } from '@kubernetes/client-node';
import type { MigrateResult } from '../../../services/worker/migrate.js';
import { counterContainer, eventRef, TestBed, waitFor } from './harness.js';

/**
 * The worker's budget would try this pod, but its node's agent, which knows
 * it moves only 1 MiB/s, refuses the checkpoint at once: the pod is drained
 * straight away with its whole grace period, never frozen.
 */
describe('worker: a checkpoint its agent refuses', () => {
  const bed = new TestBed('wadm');
  const source = bed.node('src');
  const spare = bed.node('spare');

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

  /** The grace period the pod is first seen deleted with (kwok removes a deleted pod at once). */
  async function watchDeletionGrace(
    name: string,
  ): Promise<{ grace: () => number | undefined; stop: () => void }> {
    let grace: number | undefined;
    const req = await new Watch(bed.k.kc).watch(
      `/api/v1/namespaces/${bed.ns}/pods`,
      { fieldSelector: `metadata.name=${name}` },
      (_type: string, pod: V1Pod) => {
        if (grace === undefined && pod.metadata?.deletionTimestamp)
          grace = pod.metadata.deletionGracePeriodSeconds;
      },
      () => {},
    );
    return { grace: () => grace, stop: () => req.abort() };
  }

  test('is drained at once with its full grace period, and its process never frozen', async () => {
    // 256 MiB: ~8 s at the worker's assumed 50 MiB/s, well inside its budget; over 4 minutes at the agent's 1 MiB/s.
    const memory = { requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '256Mi' } };
    await bed.k.core.createNamespacedPod({
      namespace: bed.ns,
      body: {
        metadata: { name: 'big', labels: { app: 'big' } },
        spec: bed.podSpec([counterContainer(memory)], { terminationGracePeriodSeconds: 25 }),
      },
    });
    const [pod] = await bed.podsToMove(source, 1, [spare]);
    const deletion = await watchDeletionGrace('big');
    bed.onClose(async () => deletion.stop());
    const [r] = (await bed.migrateAll(
      eventRef(120_000),
      { name: source, instanceId: 'i-0123456789abcdef9' },
      [pod!],
    )) as MigrateResult[];
    assert.equal(r?.outcome, 'evicted', JSON.stringify(r));
    // The agent's own figures, as the worker log and `kubectl describe pod` show them.
    const refusedBy = new RegExp(
      `^refused by ${source}'s agent: needs ~[0-9.]+ s at 1 MiB/s assumed, [0-9.]+ s left: `,
    );
    assert.match(r?.reason ?? '', refusedBy);
    const grace = await waitFor('the pod deleted', async () => deletion.grace());
    assert.equal(grace, 25, 'drained with the grace period it asked for');
    const events = (await bed.k.core.listNamespacedEvent({ namespace: bed.ns })).items.filter(
      (e) => e.involvedObject.name === 'big' && e.reason === 'RescueFellBackToEviction',
    );
    assert.equal(events.length, 1);
    assert.match(
      events[0]?.message ?? '',
      new RegExp(`refused by ${source}'s agent: needs ~[0-9.]+ s at 1 MiB/s assumed`),
    );
    // Never frozen: it kept counting through the whole decision and after it.
    const c0 = (await bed.counterOf(source, 'big'))?.progress?.['counter'] ?? 0;
    await waitFor('the counter to go on', async () => {
      const c = await bed.counterOf(source, 'big');
      return c?.status === 'running' && (c.progress?.['counter'] ?? 0) > c0 ? true : undefined;
    });
  });
});
