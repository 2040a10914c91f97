import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { RESTORED_FROM_ANNOTATION } from '../../../services/common/labels.js';
import type { Cluster } from '../../../services/worker/cluster.js';
import { around, eventRef, isReady, TestBed } from './harness.js';

/**
 * The restored pod is deleted by name before it runs, as kwok's delete of the
 * original (by name, without the uid a kubelet would check) can do to a
 * same-name successor created a moment later. Its process already runs on
 * the target: the worker gives it its Pod back instead of waiting for a pod
 * that no longer exists.
 */
describe('worker: a restored pod deleted before it runs', () => {
  const bed = new TestBed('wdel');
  const { k, ns } = bed;
  const source = bed.node('src');
  const target = bed.node('dst');
  let deletedUid: string | undefined;

  // The stray delete, right after the worker creates the first restored copy and
  // before it can see it run: by name, without a uid precondition.
  const strayDelete = (cluster: Cluster): Cluster =>
    around(cluster, 'createPod', async (create, pod) => {
      const created = await create(pod);
      if (!deletedUid && created.metadata?.annotations?.[RESTORED_FROM_ANNOTATION]) {
        deletedUid = created.metadata.uid;
        await k.core.deleteNamespacedPod({
          namespace: ns,
          name: created.metadata.name ?? '',
          gracePeriodSeconds: 0,
        });
      }
      return created;
    });

  before(async () => {
    await bed.setUp({
      nodes: [
        { suffix: 'src', zone: 'us-east-1a' },
        { suffix: 'dst', zone: 'us-east-1a', unschedulable: true },
      ],
    });
    await bed.startWorker({ overrides: { wrapCluster: strayDelete } });
  });

  after(() => bed.close());

  test('is created again and ends running with its process going on', async () => {
    const original = await bed.soloPodToMove(source, target);

    const event = eventRef(120_000);
    const results = await bed.migrateAll(event, { name: source, instanceId: 'i-0123456789abcdef0' }, [
      original!,
    ]);
    assert.equal(results[0]?.outcome, 'restored', JSON.stringify(results));
    assert.ok(deletedUid, 'the restored copy was deleted once before it ran');

    const [copy] = await bed.waitPods(
      'one running restored copy',
      (pods) => pods.length === 1 && isReady(pods[0]!),
    );
    assert.equal(copy!.metadata?.name, 'solo');
    assert.equal(copy!.metadata?.annotations?.[RESTORED_FROM_ANNOTATION], original!.metadata?.uid);
    assert.notEqual(copy!.metadata?.uid, deletedUid, 'a new Pod object, not the deleted one');
    assert.equal(copy!.spec?.nodeName, target);
    const state = await bed.waitContinued({ node: source, pod: 'solo' }, { node: target, pod: 'solo' });
    assert.equal(state['corrupt'], 0);
  });
});
