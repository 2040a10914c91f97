import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { StatusReport } from '../../../services/cli/status-view.js';
import { RESTORED_FROM_ANNOTATION } from '../../../services/common/labels.js';
import type { Cluster } from '../../../services/worker/cluster.js';
import { around, eventRef, TestBed } from '../worker/harness.js';
import { runCli } from './cli.js';

/**
 * What an operator sees with `spot-rescue status` while a real migration is
 * under way: the real listener sink, the real worker and real runc agents move
 * a pod, and the worker is held just before it creates the restored copy, so
 * the in-flight view is read at a known point rather than by luck.
 */
describe('spot-rescue status during a real rescue', () => {
  const bed = new TestBed('wstat');
  const source = bed.node('src');
  const target = bed.node('dst');
  let releaseCreate!: () => void;
  const createHeld = new Promise<void>((r) => {
    releaseCreate = r;
  });
  let reachedCreate!: () => void;
  const atCreate = new Promise<void>((r) => {
    reachedCreate = r;
  });

  // Holds the creation of the restored copy (and only that) until the test has looked.
  const holdRestoredCreate = (cluster: Cluster): Cluster =>
    around(cluster, 'createPod', async (create, pod) => {
      if (pod.metadata?.annotations?.[RESTORED_FROM_ANNOTATION]) {
        reachedCreate();
        await createHeld;
      }
      return create(pod);
    });

  const status = async () => {
    const env = { ...process.env, ...bed.workerEnv() };
    const r = await runCli(['status', '--json'], env);
    assert.equal(r.status, 0, r.stderr);
    return { report: JSON.parse(r.stdout) as StatusReport, text: await runCli(['status'], env) };
  };

  before(async () => {
    await bed.setUp({
      nodes: [
        { suffix: 'src', zone: 'us-east-1a' },
        { suffix: 'dst', zone: 'us-east-1a', unschedulable: true },
      ],
    });
    await bed.startWorker({ overrides: { wrapCluster: holdRestoredCreate } });
  });

  after(async () => {
    releaseCreate();
    await bed.close();
  });

  test('shows the pod, its node, stage, time left and target while in flight, then the outcome', async () => {
    const original = await bed.soloPodToMove(source, target);
    const job = await bed.queues.migrate(
      eventRef(120_000),
      { name: source, instanceId: 'i-0123456789abcdef0' },
      original,
    );
    await atCreate;

    const during = await status();
    assert.equal(during.report.inFlight.length, 1, JSON.stringify(during.report));
    const f = during.report.inFlight[0]!;
    assert.equal(f.pod, `${bed.ns}/solo`);
    assert.equal(f.node, source);
    assert.equal(f.state, 'active');
    assert.equal(f.stage, 'restored', 'checkpointed and restored on the target, the copy not yet created');
    assert.equal(f.target, target);
    assert.ok(f.secondsLeft > 0 && f.secondsLeft <= 120, `${f.secondsLeft} s left`);
    assert.equal(f.eventKind, 'spot-interruption');
    assert.match(during.text.stdout, new RegExp(`node ${source} \\(spot-interruption\\)`));
    assert.match(during.text.stdout, new RegExp(`restored -> ${target} {2}\\d+ s left`));

    releaseCreate();
    const result = await bed.queues.result<{ outcome: string }>(job);
    assert.equal(result?.outcome, 'restored');

    const done = (await status()).report;
    assert.equal(done.inFlight.length, 0, JSON.stringify(done.inFlight));
    assert.deepEqual(
      done.recent.map((r) => [r.pod, r.node, r.outcome, r.target]),
      [[`${bed.ns}/solo`, source, 'restored', target]],
    );
  });
});
