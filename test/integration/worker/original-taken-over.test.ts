import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { MIGRATE_ANNOTATION } from '../../../services/common/labels.js';
import type { Cluster } from '../../../services/worker/cluster.js';
import { RESTORED_FROM_LABEL } from '../../../services/worker/restored-pod.js';
import { around, eventRef, isReady, TestBed } from './harness.js';

/**
 * The chaos run's kube-api-stall round lost two pods reported restored:
 * while the API server stalled the worker, another install's worker (a
 * re-plan of every tainted node, from a test running beside it) evicted
 * the pods it was migrating, and their ReplicaSet and Job started
 * replacements. The worker went on from the pods it had read before the
 * stall: it checkpointed and restored them, and each controller removed the
 * copy it adopted (one pod too many, the newest) while the pod was reported
 * restored. Here the worker's RescueStarted Event, its first API call after
 * reading the pod, is held while the original is evicted and its
 * controller's replacement runs, as the stall held it then.
 */
describe('worker: originals evicted by someone else while the worker was stalled', () => {
  const bed = new TestBed('wtaken');
  const { k, ns } = bed;
  const source = bed.node('src');
  const target = bed.node('dst');
  const evicted = new Set<string>();

  const evictWhileStalled = (cluster: Cluster): Cluster =>
    around(cluster, 'recordEvent', async (recordEvent, pod, type, reason, message) => {
      const name = pod.metadata?.name ?? '';
      const uid = pod.metadata?.uid ?? '';
      if (reason === 'RescueStarted' && !evicted.has(uid)) {
        evicted.add(uid);
        await k.core.createNamespacedPodEviction({
          name,
          namespace: ns,
          body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name, namespace: ns } },
        });
        const app = pod.metadata?.labels?.['app'] ?? '';
        // A Job's replacement waits out its 10 s pod failure backoff.
        await bed.waitPods(`the ${app} controller's replacement for ${name} running`, (pods) =>
          pods.some((p) => p.metadata?.labels?.['app'] === app && p.metadata?.uid !== uid && isReady(p)),
        );
      }
      return recordEvent(pod, type, reason, message);
    });

  before(async () => {
    await bed.setUp({ nodes: [{ suffix: 'src' }, { suffix: 'dst', unschedulable: true }] });
    await bed.startWorker({ overrides: { wrapCluster: evictWhileStalled } });
  });

  after(() => bed.close());

  test('nothing is checkpointed or swapped in: the pods are gone, and their replacements keep running', async () => {
    await bed.createDeployment('web', 1);
    await bed.createJob('batch', { [MIGRATE_ANNOTATION]: 'true' });
    const originals = await bed.podsToMove(source, 2, [target]);

    const results = await bed.migrateAll(
      eventRef(120_000),
      { name: source, instanceId: 'i-0123456789abcde41' },
      originals,
    );
    assert.equal(evicted.size, 2, 'both originals were evicted while their jobs were held');
    for (const r of results) {
      assert.equal(r.outcome, 'gone', JSON.stringify(r));
      assert.match(r.reason ?? '', /deleted by someone else.*before its checkpoint/);
    }

    // Past the Job's batching and a ReplicaSet's reaction: what runs is each controller's one replacement.
    await new Promise((r) => setTimeout(r, 3000));
    const pods = await bed.pods();
    const origUids = new Set(originals.map((p: V1Pod) => p.metadata?.uid));
    for (const app of ['web', 'batch']) {
      const mine = pods.filter((p) => p.metadata?.labels?.['app'] === app);
      assert.equal(mine.length, 1, `${app}: one pod (${mine.map((p) => p.metadata?.name).join(', ')})`);
      assert.ok(isReady(mine[0]!), `${app}: its replacement runs`);
      assert.ok(!origUids.has(mine[0]!.metadata?.uid), `${app}: the replacement, not the original`);
    }
    assert.deepEqual(
      pods.filter((p) => p.metadata?.labels?.[RESTORED_FROM_LABEL]),
      [],
      'no restored copy was created',
    );
  });
});
