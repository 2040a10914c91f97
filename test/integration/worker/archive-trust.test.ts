import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { PatchStrategy, setHeaderOptions, type V1Pod } from '@kubernetes/client-node';
import { jobOptions, QUEUES } from '../../../services/common/jobs.js';
import { NAMESPACE_OPT_IN_LABEL, NAMESPACE_OPT_IN_VALUE } from '../../../services/common/labels.js';
import type { PlannedJob } from '../../../services/listener/plan.js';
import { strip } from '../../../services/worker/migrate/context.js';
import { signedProgress } from '../../../services/worker/verified-job.js';
import { eventRef, isReady, jobSigner, listenerPlan, plannedJob, TestBed, waitFor } from './harness.js';

/**
 * Redis is not trusted: whoever can write to it can queue jobs and rewrite a
 * job's saved progress. The worker runs only jobs the listener signed, trusts
 * only progress it signed itself, re-checks the pod's opt-in and accepts no
 * restored image but its own checkpoint images. Each forgery below is refused
 * before anything happens to the pod: no checkpoint (it counts on unfrozen),
 * no eviction, no pod created.
 */
describe('worker: forged jobs and forged progress are refused', () => {
  const bed = new TestBed('wtrust');
  const source = bed.node('src');
  const target = bed.node('dst');
  const node = { name: source, instanceId: 'i-0123456789abcdef7' };
  let original: V1Pod;

  before(async () => {
    await bed.setUp({ nodes: [{ suffix: 'src' }, { suffix: 'dst', unschedulable: true }] });
    original = await bed.soloPodToMove(source, target);
  });

  after(() => bed.close());

  const optIn = (value: string | null) =>
    bed.k.core.patchNamespace(
      { name: bed.ns, body: { metadata: { labels: { [NAMESPACE_OPT_IN_LABEL]: value } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );

  /** The pod is where it was, the same pod, counting on (never frozen), and nothing else was created. */
  async function untouched(): Promise<void> {
    const pods = await bed.pods();
    assert.deepEqual(
      pods.map((p) => [p.metadata?.uid, p.spec?.nodeName, isReady(p)]),
      [[original.metadata?.uid, source, true]],
    );
    const before = (await bed.counterOf(source, 'solo'))?.progress?.['counter'] ?? 0;
    await waitFor('the counter to go on', async () => {
      const c = await bed.counterOf(source, 'solo');
      return c?.status === 'running' && (c.progress?.['counter'] ?? 0) > before ? true : undefined;
    });
  }

  test('unsigned, badly signed and re-targeted jobs, and progress that skips the restore, do nothing', async () => {
    // The listener's own jobs for the pod, written straight into Redis without its signature, as
    // anyone reaching Redis could.
    const planned = (queue: PlannedJob['queue'], o?: Parameters<typeof listenerPlan>[3]) =>
      plannedJob(listenerPlan(eventRef(120_000), node, [original], o), queue);
    const add = (job: Pick<PlannedJob, 'queue' | 'name' | 'jobId' | 'priority'>, data: object) =>
      (job.queue === QUEUES.evict ? bed.queues.evict : bed.queues.rescue).add(
        job.name,
        data,
        jobOptions(job.queue, job.jobId, job.priority),
      );
    const unsignedJob = planned(QUEUES.rescue);
    const unsigned = await add(unsignedJob, unsignedJob.data);
    const badJob = planned(QUEUES.rescue);
    const badlySigned = await add(badJob, { ...badJob.data, signature: `v1:${'0'.repeat(64)}` });
    const evictJob = planned(QUEUES.evict, { optedIn: false, unoptedPods: 'evict' });
    const evict = await add(evictJob, evictJob.data);
    // A real signed migration, whose data is lifted into another job id: the signature binds the id.
    const signed = await bed.queues.migrate(eventRef(120_000), node, original);
    const replayed = await add({ ...unsignedJob, jobId: `${signed.id}-again` }, signed.data);
    await signed.remove();
    // Listener-signed jobs whose saved progress says the restore is done and names an image to run:
    // once unsigned (an attacker's), once signed by the worker's key but naming a foreign image.
    const restore = {
      runtime: 'kubelet' as const,
      node: target,
      containers: [
        { name: 'counter', image: 'docker.io/attacker/shell:latest', downloadMs: 0, restoreMs: 0 },
      ],
    };
    const forgedProgress = {
      stage: 'restored',
      target,
      original: strip(original),
      restore,
      checkpointRequested: false,
    };
    const progressForged = await bed.queues.migrate(eventRef(120_000), node, original);
    await progressForged.updateProgress(forgedProgress);
    const imageForged = await bed.queues.migrate(eventRef(120_000), node, original);
    await imageForged.updateProgress(signedProgress(imageForged, jobSigner, forgedProgress as never));

    await bed.startWorker();
    const reasons = {
      unsigned: await bed.queues.failure(unsigned),
      badlySigned: await bed.queues.failure(badlySigned),
      evict: await bed.queues.failure(evict),
      replayed: await bed.queues.failure(replayed),
      progressForged: await bed.queues.failure(progressForged),
      imageForged: await bed.queues.failure(imageForged),
    };
    assert.match(reasons.unsigned, /refused migrate-pod job .*: no signature/);
    assert.match(reasons.badlySigned, /refused migrate-pod job .*: signature does not match/);
    assert.match(reasons.evict, /refused evict-pod job .*: no signature/);
    assert.match(reasons.replayed, /refused migrate-pod job .*-again: signature does not match/);
    assert.match(reasons.progressForged, /saved progress has no signature/);
    assert.match(
      reasons.imageForged,
      /container counter would run docker.io\/attacker\/shell:latest, not the checkpoint image/,
    );
    // Failed for good: none is retried.
    for (const j of [unsigned, badlySigned, replayed, progressForged, imageForged])
      assert.equal((await bed.queues.rescue.getJob(j.id!))?.attemptsMade, 1, `${j.id} ran once`);

    await untouched();
    const refused = (await bed.worker!.metrics.refusedJobs.get()).values.map((v) => [
      v.labels['queue'],
      v.labels['reason'],
      v.value,
    ]);
    assert.deepEqual(refused.sort(), [
      ['evict', 'signature', 1],
      ['rescue', 'image', 1],
      ['rescue', 'progress', 1],
      ['rescue', 'signature', 3],
    ]);
  });

  test('a signed job for a pod no longer opted in is refused; once opted in again it is migrated', async () => {
    await optIn(null);
    const optedOut = await bed.queues.migrate(eventRef(120_000), node, original);
    assert.match(await bed.queues.failure(optedOut), /solo is not opted in to migration/);
    await untouched();

    await optIn(NAMESPACE_OPT_IN_VALUE);

    const job = await bed.queues.migrate(eventRef(120_000), node, original);
    const result = await bed.queues.result(job, 120_000);
    assert.equal(result?.outcome, 'restored', JSON.stringify(result));
    const state = await bed.waitContinued({ node: source, pod: 'solo' }, { node: target, pod: 'solo' });
    assert.equal(state['corrupt'], 0);
    // Its checkpoint (process memory) was deleted once the copy ran: archive and manifest.
    const left = await bed.s3.send(new ListObjectsV2Command({ Bucket: bed.bucket }));
    assert.deepEqual(
      (left.Contents ?? []).map((o) => o.Key),
      [],
    );
    assert.deepEqual(
      (await bed.worker!.metrics.checkpointDeletions.get()).values.map((v) => [v.labels['result'], v.value]),
      [['deleted', 1]],
    );
  });
});
