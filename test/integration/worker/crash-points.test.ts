import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { MIGRATE_ANNOTATION, RESTORED_FROM_ANNOTATION } from '../../../services/common/labels.js';
import type { Cluster } from '../../../services/worker/cluster.js';
import type { MigrateProgress } from '../../../services/worker/migrate.js';
import { around, counterContainer, eventRef, isReady, TestBed, waitFor } from './harness.js';

/**
 * Faults at the points between two steps of a migration, each against the
 * real stack: the pod ends running exactly once (restored, or drained the
 * way a plain drain would), never in two copies and never stuck.
 */
describe('worker crash points: SIGKILL during the agent’s checkpoint call', () => {
  const bed = new TestBed('wckpk');
  const source = bed.node('src');
  const target = bed.node('dst');
  const settings = { extra: { SPOT_RESCUE_LOG_LEVEL: 'info' } };

  before(() => bed.setUp({ nodes: [{ suffix: 'src' }, { suffix: 'dst', unschedulable: true }] }));
  after(() => bed.close());

  test('the next worker waits for the checkpoint the agent finished and restores from it', async () => {
    await bed.createPod(
      'solo',
      bed.podSpec([counterContainer({ requests: { cpu: '100m', memory: '512Mi' } })]),
    );
    // A large memory image: its dump and upload outlast the kill.
    const [original] = await bed.podsToMove(source, 1, [target], 256);

    const first = bed.spawnWorker(settings);
    const job = await bed.queues.migrate(
      eventRef(120_000),
      { name: source, instanceId: 'i-0123456789abcde10' },
      original!,
    );
    await first.explained(
      waitFor(
        'the checkpoint call to be under way',
        async () => {
          const j = await bed.queues.rescue.getJob(job.id!);
          const p = (j?.progress ?? {}) as MigrateProgress;
          return p.checkpointRequested && p.stage === 'started' ? true : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 20 },
      ),
    );
    await first.crash();

    const second = bed.spawnWorker(settings);
    const result = await second.explained(bed.queues.result(job, 120_000));
    assert.equal(result?.outcome, 'restored', `${JSON.stringify(result)}\n${second.lastLog()}`);
    const [copy] = await bed.waitPods('one running copy', (pods) => pods.length === 1 && isReady(pods[0]!));
    assert.equal(copy!.spec?.nodeName, target);
    assert.equal(copy!.metadata?.annotations?.[RESTORED_FROM_ANNOTATION], original!.metadata?.uid);
    const state = await bed.waitContinued({ node: source, pod: 'solo' }, { node: target, pod: 'solo' });
    assert.equal(state['corrupt'], 0);
  });
});

describe('worker crash points: a Job’s original deleted, then the worker fails before adoption', () => {
  const bed = new TestBed('wjobk');
  const { k, ns } = bed;
  const source = bed.node('src');
  const target = bed.node('dst');
  let crashed = false;

  // The crash: right after the Job's original is removed (evicted, as a drain
  // would, or deleted at the deadline; the step before adoption), this attempt dies.
  const crashAfter = (namespace: string, name: string) => {
    if (!crashed && namespace === ns && name.startsWith('work-') && !/-r[0-9a-f]{5}$/.test(name)) {
      crashed = true;
      throw new Error('worker lost between removing the original and adopting the copy');
    }
  };
  const crashAfterOriginalDelete = (cluster: Cluster): Cluster =>
    around(
      around(cluster, 'evictPod', async (evict, namespace, name, uid, grace) => {
        const r = await evict(namespace, name, uid, grace);
        crashAfter(namespace, name);
        return r;
      }),
      'deletePod',
      async (del, namespace, name, uid, grace) => {
        const r = await del(namespace, name, uid, grace);
        crashAfter(namespace, name);
        return r;
      },
    );

  before(async () => {
    await bed.setUp({ nodes: [{ suffix: 'src' }, { suffix: 'dst', unschedulable: true }] });
    await bed.startWorker({ overrides: { wrapCluster: crashAfterOriginalDelete } });
  });
  after(() => bed.close());

  test('the retry adopts the restored copy: the Job keeps one active pod, no fresh start', async () => {
    await bed.createJob('work', { [MIGRATE_ANNOTATION]: 'true' });
    const [original] = await bed.podsToMove(source, 1, [target]);
    const [result] = await bed.migrateAll(
      eventRef(120_000),
      { name: source, instanceId: 'i-0123456789abcde11' },
      [original!],
    );
    assert.ok(crashed, 'the attempt died after deleting the original');
    assert.equal(result?.outcome, 'restored', JSON.stringify(result));
    // Past the Job controller's 10 s backoff: a replacement it meant to start would be there.
    await new Promise((r) => setTimeout(r, 15_000));
    const pods = await bed.pods('batch.kubernetes.io/job-name=work');
    assert.deepEqual(
      pods.map((p: V1Pod) => p.metadata?.annotations?.[RESTORED_FROM_ANNOTATION]),
      [original!.metadata?.uid],
      'only the adopted copy',
    );
    assert.ok(isReady(pods[0]!));
    const job = await k.batch.readNamespacedJob({ name: 'work', namespace: ns });
    assert.equal(job.status?.active, 1);
    const state = await bed.waitContinued(
      { node: source, pod: original!.metadata!.name! },
      { node: target, pod: pods[0]!.metadata!.name! },
    );
    assert.equal(state['corrupt'], 0);
  });
});
