import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { RESTORED_FROM_ANNOTATION } from '../../../services/common/labels.js';
import type { MigrateProgress } from '../../../services/worker/migrate.js';
import { counterContainer, eventRef, isReady, TestBed, waitFor } from './harness.js';

/**
 * The crash points where the migration cannot go on and fails over (the
 * worker's own deaths are in crash-points.test.ts): the pod still ends
 * running exactly once, drained the way a plain drain would, never frozen.
 */
describe('worker crash points: the source agent dies half-way through its upload', () => {
  const bed = new TestBed('wagk');
  const source = bed.node('src');
  const spare = bed.node('spare');

  before(async () => {
    await bed.setUp({ nodes: [{ suffix: 'src' }, { suffix: 'spare', unschedulable: true }] });
    await bed.startWorker();
  });
  after(() => bed.close());

  test('the checkpoint fails over to a drain, and the Deployment runs its replica elsewhere', async () => {
    await bed.createDeployment(
      'web',
      1,
      bed.podSpec([counterContainer({ requests: { cpu: '100m', memory: '512Mi' } })], {
        terminationGracePeriodSeconds: 1,
      }),
    );
    const [original] = await bed.podsToMove(source, 1, [spare], 256);
    const job = await bed.queues.migrate(
      eventRef(120_000),
      { name: source, instanceId: 'i-0123456789abcde12' },
      original!,
    );
    await waitFor(
      'the checkpoint call to be under way',
      async () =>
        ((await bed.queues.rescue.getJob(job.id!))?.progress as MigrateProgress)?.checkpointRequested ||
        undefined,
      { timeoutMs: 60_000, intervalMs: 20 },
    );
    await bed.crashAgent(source);
    const result = await bed.queues.result(job, 90_000);
    assert.equal(result?.outcome, 'evicted', JSON.stringify(result));
    assert.match(result?.reason ?? '', /checkpoint failed/);
    const replaced = await bed.waitPods(
      'the Deployment’s replica running on the spare node',
      (pods) => pods.length === 1 && isReady(pods[0]!) && pods[0]!.spec?.nodeName === spare,
      60_000,
    );
    assert.notEqual(replaced[0]!.metadata?.uid, original!.metadata?.uid);
    assert.equal(
      replaced[0]!.metadata?.annotations?.[RESTORED_FROM_ANNOTATION],
      undefined,
      'a fresh replica',
    );
  });
});

describe('worker crash points: the restored pod is refused at once', () => {
  const bed = new TestBed('wrefk');
  const source = bed.node('src');
  const target = bed.node('dst');

  before(async () => {
    await bed.setUp({ nodes: [{ suffix: 'src' }, { suffix: 'dst', unschedulable: true }] });
    // A restore timeout far longer than the test: only a fast fallback can end it in time.
    await bed.startWorker({ extra: { SPOT_RESCUE_RESTORE_TIMEOUT_SECONDS: '600' } });
  });
  after(() => bed.close());

  test('a host port taken on the target: the scheduler refuses the copy and the worker falls back in seconds', async () => {
    await bed.createDeployment('web', 1, bed.hostPortSpec('counter', 18080));
    const [original] = await bed.podsToMove(source, 1, [target]);
    // The target already runs a pod holding the same host port.
    await bed.holdHostPort(target, 18080);
    const [result] = await bed.migrateAll(
      eventRef(120_000),
      { name: source, instanceId: 'i-0123456789abcde13' },
      [original!],
      90_000,
    );
    assert.equal(result?.outcome, 'evicted', JSON.stringify(result));
    assert.match(result?.reason ?? '', /scheduler refuses/);
    const copies = (await bed.pods()).filter((p) => p.metadata?.annotations?.[RESTORED_FROM_ANNOTATION]);
    assert.equal(copies.length, 0, 'the refused copy is removed');
    // Before the drain, the source agent was asked to release (thaw) what its checkpoint left.
    const metrics = await (await fetch(`${bed.agents[source]!.url}/metrics`)).text();
    const releases = metrics
      .split('\n')
      .filter(
        (l) => l.startsWith('spot_rescue_agent_operations_total{') && l.includes('operation="release"'),
      );
    assert.ok(
      releases.some((l) => l.includes('outcome="ok"') && Number(l.split(' ').pop()) >= 1),
      `a release on the source agent: ${releases.join('; ')}`,
    );
  });
});
