import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1ContainerStatus, V1Pod } from '@kubernetes/client-node';
import { restoredPodFailure } from '../../../../services/worker/migrate/readiness.js';

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
