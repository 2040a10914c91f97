import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { V1Job, V1Pod } from '@kubernetes/client-node';
import { MIGRATE_ANNOTATION, RESTORED_FROM_ANNOTATION } from '../../../services/common/labels.js';
import { eventRef, isReady, TestBed, waitFor } from './harness.js';

/**
 * A Job's running pod migrated under the real Job controller
 * (kube-controller-manager): the restored pod takes over the original's
 * labels, spec and controller reference, so the Job counts it as its one
 * active pod and never starts the work again.
 *
 * kwok marks a Job's pods Succeeded as soon as they run; infra/kwok/stages.yaml
 * (kwok's --config in infra/stack) keeps the pods opted in with the migrate
 * annotation running, as a long job's pod would be.
 */
describe("worker: migrate a Job's running pod", () => {
  const bed = new TestBed('wjob');
  const { k, ns } = bed;
  const source = bed.node('src');
  const target = bed.node('dst');
  // Longer than the Job controller's batching (1 s) and its first pod backoff (10 s):
  // a replacement it meant to make would be there by then.
  const settleMs = 15_000;

  before(async () => {
    await bed.setUp({ nodes: [{ suffix: 'src' }, { suffix: 'dst', unschedulable: true }] });
    await bed.startWorker();
  });

  after(() => bed.close());

  const jobPods = async (name: string) =>
    (await k.core.listNamespacedPod({ namespace: ns, labelSelector: `batch.kubernetes.io/job-name=${name}` }))
      .items;

  test('a Job pod that is not opted in still completes at once', async () => {
    await bed.createJob('plain', {});
    const job = await waitFor(
      'the plain Job to complete',
      async () => {
        const j = await k.batch.readNamespacedJob({ name: 'plain', namespace: ns });
        return j.status?.succeeded === 1 ? j : undefined;
      },
      { timeoutMs: 60_000 },
    );
    assert.ok(job.status?.conditions?.some((c) => c.type === 'Complete' && c.status === 'True'));
    assert.deepEqual(
      (await jobPods('plain')).map((p) => p.status?.phase),
      ['Succeeded'],
    );
  });

  test('the restored pod is the Job’s one active pod: no replacement, the work goes on', async (t) => {
    await bed.createJob('work', { [MIGRATE_ANNOTATION]: 'true' });
    const [original] = await bed
      .waitPods(
        'the Job pod running on the source node',
        (pods) =>
          pods.filter((p) => p.metadata?.labels?.['app'] === 'work' && isReady(p)).length === 1 &&
          pods.every((p) => p.metadata?.labels?.['app'] !== 'work' || p.spec?.nodeName === source),
      )
      .then((pods) => pods.filter((p) => p.metadata?.labels?.['app'] === 'work'));
    const orig = original as V1Pod;
    const job = await k.batch.readNamespacedJob({ name: 'work', namespace: ns });
    const jobUid = job.metadata!.uid!;
    assert.equal(job.spec?.backoffLimit, 6, 'the default backoff limit: one failure does not end the Job');
    await bed.startCounters(source, [orig]);

    // Every pod carrying the Job's label, however briefly: a replacement would show up here.
    const seen = new Map<string, string>();
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        for (const p of await jobPods('work').catch(() => [] as V1Pod[]))
          seen.set(p.metadata!.uid!, `${p.metadata?.name}@${p.spec?.nodeName}`);
        await new Promise((r) => setTimeout(r, 150));
      }
    })();

    await bed.markInterrupted(source);
    await bed.setSchedulable(target, true);
    const [result] = await bed.migrateAll(
      eventRef(120_000),
      { name: source, instanceId: 'i-0123456789abcdef7' },
      [orig],
    );
    assert.equal(result?.outcome, 'restored', JSON.stringify(result));
    assert.equal(result?.target, target);

    await new Promise((r) => setTimeout(r, settleMs));
    watching = false;
    await watcher;

    // The Job has exactly one pod, active: the restored one, a member of the Job by owner and labels.
    const pods = (await jobPods('work')).filter((p) => !p.metadata?.deletionTimestamp);
    assert.equal(pods.length, 1, `one pod of the Job: ${pods.map((p) => p.metadata?.name)}`);
    const restored = pods[0]!;
    assert.equal(restored.metadata?.annotations?.[RESTORED_FROM_ANNOTATION], orig.metadata!.uid);
    assert.equal(restored.spec?.nodeName, target);
    assert.ok(isReady(restored), `restored pod ${restored.status?.phase}`);
    const owner = restored.metadata?.ownerReferences?.find((r) => r.controller);
    assert.deepEqual([owner?.kind, owner?.name, owner?.uid], ['Job', 'work', jobUid]);
    for (const [key, value] of Object.entries(orig.metadata?.labels ?? {}))
      assert.equal(restored.metadata?.labels?.[key], value, `label ${key}`);
    assert.equal(restored.spec?.restartPolicy, 'Never');
    assert.deepEqual(
      restored.spec?.containers.map((c) => [c.name, c.image]),
      orig.spec?.containers.map((c) => [c.name, c.image]),
    );

    // The Job controller made no other pod and deleted none, during the migration or the settle period.
    assert.deepEqual(
      [...seen.keys()].sort(),
      [orig.metadata!.uid!, restored.metadata!.uid!].sort(),
      `pods with the Job's label: ${[...seen.values()]}`,
    );
    const events = (
      await k.core.listNamespacedEvent({
        namespace: ns,
        fieldSelector: `involvedObject.kind=Job,involvedObject.name=work`,
      })
    ).items;
    assert.equal(events.filter((e) => e.reason === 'SuccessfulCreate').length, 1, 'one pod created, ever');
    assert.equal(
      events.filter((e) => e.reason === 'SuccessfulDelete').length,
      0,
      'no pod deleted by the Job',
    );

    // Counted as the one active pod; the Job neither finished nor gave up. The deleted original
    // counts as failed (to the Job controller a pod deleted before it finished is a failure, under
    // the default podReplacementPolicy TerminatingOrFailed): status.failed is 1. That starts
    // nothing new, since the restored pod already fills the Job's parallelism, and one failure
    // is well within the default backoffLimit of 6.
    const status = (await k.batch.readNamespacedJob({ name: 'work', namespace: ns }))
      .status as V1Job['status'];
    t.diagnostic(
      `job status: active=${status?.active} failed=${status?.failed} succeeded=${status?.succeeded}`,
    );
    assert.equal(status?.active, 1);
    assert.equal(status?.succeeded ?? 0, 0);
    assert.ok((status?.failed ?? 0) <= 1, `failed=${status?.failed}`);
    assert.ok(
      !(status?.conditions ?? []).some((c) => ['Complete', 'Failed'].includes(c.type) && c.status === 'True'),
      JSON.stringify(status?.conditions),
    );

    // The original is gone, and its process goes on in the restored pod, memory intact.
    await assert.rejects(
      k.core.readNamespacedPod({ name: orig.metadata!.name!, namespace: ns }),
      (err: { code?: number }) => err.code === 404,
    );
    const progress = await bed.waitContinued(
      { node: source, pod: orig.metadata!.name! },
      { node: target, pod: restored.metadata!.name! },
    );
    assert.equal(progress['corrupt'], 0, 'memory came back intact');
  });
});
