import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1ContainerStatus, V1Pod } from '@kubernetes/client-node';
import type { Run } from '../../../../services/worker/migrate/context.js';
import { restoredPodFailure, waitRunning } from '../../../../services/worker/migrate/readiness.js';

function pod(phase: string, statuses: Partial<V1ContainerStatus>[] = []): V1Pod {
  return {
    metadata: { name: 'p' },
    status: {
      phase,
      containerStatuses: statuses.map((s) => ({
        name: 'c',
        image: 'i',
        imageID: '',
        ready: false,
        restartCount: 0,
        ...s,
      })),
    },
  };
}

describe('restoredPodFailure', () => {
  it('a pod still starting may yet run', () => {
    assert.equal(restoredPodFailure(pod('Pending')), null);
    assert.equal(
      restoredPodFailure(pod('Pending', [{ state: { waiting: { reason: 'ContainerCreating' } } }])),
      null,
    );
    assert.equal(restoredPodFailure(pod('Running', [{ ready: true, state: { running: {} } }])), null);
  });

  it('a pod the scheduler refuses on its target has failed', () => {
    const p = pod('Pending');
    p.status!.conditions = [
      {
        type: 'PodScheduled',
        status: 'False',
        reason: 'Unschedulable',
        message: "1 node(s) didn't match pod anti-affinity rules",
      },
    ];
    assert.match(restoredPodFailure(p) ?? '', /anti-affinity/);
    p.status!.conditions = [{ type: 'PodScheduled', status: 'False', reason: 'SchedulingGated' }];
    assert.equal(restoredPodFailure(p), null, 'gated: not refused');
  });

  it('an ended pod has failed', () => {
    assert.match(restoredPodFailure(pod('Failed')) ?? '', /ended \(Failed\)/);
    assert.match(restoredPodFailure(pod('Succeeded')) ?? '', /ended \(Succeeded\)/);
  });

  it('a container that exited, restarted or cannot start has failed', () => {
    assert.match(
      restoredPodFailure(pod('Running', [{ state: { terminated: { exitCode: 137, reason: 'Error' } } }])) ??
        '',
      /exited \(Error\)/,
    );
    assert.match(
      restoredPodFailure(pod('Running', [{ restartCount: 1, state: { running: {} } }])) ?? '',
      /restarted/,
    );
    for (const reason of ['CrashLoopBackOff', 'ErrImagePull', 'CreateContainerError'])
      assert.match(
        restoredPodFailure(pod('Pending', [{ state: { waiting: { reason } } }])) ?? '',
        new RegExp(reason),
      );
  });
});

describe('waitRunning', () => {
  const running = (uid: string): V1Pod => ({
    metadata: { name: 'db-0', uid },
    status: {
      phase: 'Running',
      conditions: [
        { type: 'ContainersReady', status: 'True' },
        { type: 'Ready', status: 'True' },
      ],
      containerStatuses: [{ name: 'c', image: 'i', imageID: '', ready: true, restartCount: 0 }],
    },
  });

  /** A run whose cluster answers getPod from `holder`, the pod now holding the name. */
  function fakeRun(holder: { pod: V1Pod | null }) {
    let clock = 0;
    const warnings: string[] = [];
    const run = {
      namespace: 'ns',
      restoreDeadline: 60_000,
      pollMs: 100,
      now: () => clock,
      sleep: async (ms: number) => {
        clock += ms;
      },
      log: { warn: (_o: unknown, msg: string) => warnings.push(msg) },
      d: {
        cluster: { getPod: async () => holder.pod },
        metrics: { stage: <T>(_name: string, f: () => Promise<T>) => f() },
      },
    } as unknown as Run;
    return { run, warnings };
  }

  it('a pod its controller started afresh under the name is not taken for the restored copy', async () => {
    const holder: { pod: V1Pod | null } = { pod: running('controllers-fresh-pod') };
    const { run, warnings } = fakeRun(holder);
    let creates = 0;
    const ours = running('restored-copy');
    const p = await waitRunning(run, ours, async () => {
      creates++;
      holder.pod = ours; // the name is taken back: the impostor removed, the copy created again
      return ours;
    });
    assert.equal(creates, 1);
    assert.equal(p.metadata?.uid, 'restored-copy');
    assert.match(warnings[0] ?? '', /replaced by another under its name/);
  });

  it('the restored copy itself running is returned without creating anything', async () => {
    const ours = running('restored-copy');
    const { run } = fakeRun({ pod: ours });
    const p = await waitRunning(run, ours, async () => assert.fail('nothing to create'));
    assert.equal(p.metadata?.uid, 'restored-copy');
  });
});
