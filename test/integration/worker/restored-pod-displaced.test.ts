import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { RESTORED_FROM_ANNOTATION } from '../../../services/common/labels.js';
import type { Cluster } from '../../../services/worker/cluster.js';
import { isRunning, RESTORED_FROM_LABEL } from '../../../services/worker/restored-pod.js';
import { around, eventRef, isReady, TestBed, waitFor } from './harness.js';

/**
 * A StatefulSet's restored copy takes the original's name; whatever saw the
 * original go may still delete by that name, without a uid precondition:
 * kwok's pod-delete stage does (a job queued for the original, or retried
 * after an API timeout, under load), and so do the StatefulSet controller,
 * taint eviction and pod GC from their caches. Landing after the copy ran,
 * such a delete handed db-0 to the StatefulSet controller, which started it
 * afresh (no restored state, on the same target), while the worker had
 * already reported the pod restored: a lost pod of the chaos run's
 * worker-sigkill-checkpoint round. The copy must hold its name before the
 * pod counts as restored; one that loses it is created again.
 */
describe('worker: a StatefulSet copy deleted by name after it ran', () => {
  const bed = new TestBed('wdisp');
  const { k, ns } = bed;
  const source = bed.node('src');
  const target = bed.node('dst');
  let displacedUid: string | undefined;

  // The stray delete, sent once the worker has seen its copy run, as kwok's late delete
  // of the original lands: by name, grace 0, no uid precondition.
  const strayDeleteOnceRunning = (cluster: Cluster): Cluster =>
    around(cluster, 'getPod', async (getPod, namespace, name) => {
      const pod = await getPod(namespace, name);
      if (!displacedUid && pod?.metadata?.labels?.[RESTORED_FROM_LABEL] && isRunning(pod)) {
        displacedUid = pod.metadata.uid;
        await k.core.deleteNamespacedPod({ namespace, name, gracePeriodSeconds: 0 });
      }
      return pod;
    });

  before(async () => {
    await bed.setUp({
      nodes: [
        { suffix: 'src', zone: 'us-east-1a' },
        { suffix: 'dst', zone: 'us-east-1a', unschedulable: true },
      ],
    });
    await bed.startWorker({ overrides: { wrapCluster: strayDeleteOnceRunning } });
  });

  after(() => bed.close());

  test('is created again, and db-0 is the restored copy when the pod is reported restored', async () => {
    await bed.createStatefulSet('db');
    const [original] = await bed.podsToMove(source, 1, [target]);

    const [result] = await bed.migrateAll(
      eventRef(120_000),
      { name: source, instanceId: 'i-0123456789abcde40' },
      [original!],
    );
    assert.equal(result?.outcome, 'restored', JSON.stringify(result));
    assert.ok(displacedUid, 'the running copy was deleted by name once');

    // Read at once: "restored" must describe the pod that holds the name now, not one that held it.
    const named = await k.core
      .readNamespacedPod({ namespace: ns, name: 'db-0' })
      .catch((): V1Pod | undefined => undefined);
    assert.ok(named, 'db-0 exists when the pod is reported restored');
    assert.equal(
      named.metadata?.labels?.[RESTORED_FROM_LABEL],
      original!.metadata?.uid,
      `db-0 is the restored copy, not a pod its StatefulSet started afresh (${JSON.stringify(named.metadata?.labels)})`,
    );
    assert.notEqual(named.metadata?.uid, displacedUid, 'a new Pod object for the copy that lost its name');

    const [copy] = await bed.waitPods(
      'db-0 running as the restored copy, the only db pod',
      (pods) => pods.length === 1 && isReady(pods[0]!),
    );
    assert.equal(copy!.metadata?.uid, named.metadata?.uid, 'the StatefulSet kept the copy');
    assert.equal(copy!.metadata?.annotations?.[RESTORED_FROM_ANNOTATION], original!.metadata?.uid);
    assert.equal(copy!.spec?.nodeName, target);
    const state = await bed.waitContinued({ node: source, pod: 'db-0' }, { node: target, pod: 'db-0' });
    assert.equal(state['corrupt'], 0, 'the restored process carries on');
  });
});

/**
 * The StatefulSet controller recreates db-0 the moment the original goes;
 * here it always wins the name before the copy is created, and its pod runs
 * first. The worker removes that fresh pod and takes the name back; the fresh
 * pod's removal is seen by the node (kwok) as any other and may be followed
 * by its delete by name. The pod is reported restored only with the copy in
 * place.
 */
describe('worker: the StatefulSet controller takes db-0 between the delete and the create', () => {
  const bed = new TestBed('wdispctl');
  const { k, ns } = bed;
  const source = bed.node('src');
  const target = bed.node('dst');
  let originalUid: string | undefined;
  let fresh: V1Pod | undefined;

  // The copy's first create waits until the controller's own db-0 runs under the name.
  const controllerFirst = (cluster: Cluster): Cluster =>
    around(cluster, 'createPod', async (create, pod) => {
      if (!fresh && pod.metadata?.namespace === ns && pod.metadata.labels?.[RESTORED_FROM_LABEL]) {
        fresh = await waitFor(
          "the StatefulSet's own db-0 running",
          async () => {
            const p = await k.core.readNamespacedPod({ namespace: ns, name: 'db-0' }).catch(() => undefined);
            return p && p.metadata?.uid !== originalUid && isRunning(p) ? p : undefined;
          },
          { timeoutMs: 60_000, intervalMs: 50 },
        );
      }
      return create(pod);
    });

  before(async () => {
    await bed.setUp({
      nodes: [
        { suffix: 'src', zone: 'us-east-1a' },
        { suffix: 'dst', zone: 'us-east-1a', unschedulable: true },
      ],
    });
    await bed.startWorker({ overrides: { wrapCluster: controllerFirst } });
  });

  after(() => bed.close());

  test('its fresh pod is removed, and db-0 is the restored copy when the pod is reported restored', async () => {
    await bed.createStatefulSet('db');
    const [original] = await bed.podsToMove(source, 1, [target]);
    originalUid = original!.metadata?.uid;

    const [result] = await bed.migrateAll(
      eventRef(120_000),
      { name: source, instanceId: 'i-0123456789abcde41' },
      [original!],
    );
    assert.equal(result?.outcome, 'restored', JSON.stringify(result));
    assert.ok(fresh, 'the controller made db-0 afresh before the copy was created');
    assert.equal(fresh.metadata?.labels?.[RESTORED_FROM_LABEL], undefined);

    const named = await k.core
      .readNamespacedPod({ namespace: ns, name: 'db-0' })
      .catch((): V1Pod | undefined => undefined);
    assert.equal(named?.metadata?.labels?.[RESTORED_FROM_LABEL], originalUid, 'db-0 is the restored copy');
    const [copy] = await bed.waitPods(
      'db-0 running as the restored copy, the only db pod',
      (pods) => pods.length === 1 && isReady(pods[0]!),
    );
    assert.equal(copy!.metadata?.uid, named?.metadata?.uid, 'the StatefulSet kept the copy');
    assert.equal(copy!.spec?.nodeName, target);
    const state = await bed.waitContinued({ node: source, pod: 'db-0' }, { node: target, pod: 'db-0' });
    assert.equal(state['corrupt'], 0, 'the restored process carries on');
  });
});
