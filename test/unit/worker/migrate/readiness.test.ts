import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1ContainerStatus, V1Pod } from '@kubernetes/client-node';
import { FallBack, type Run } from '../../../../services/worker/migrate/context.js';
import {
  restoredPodFailure,
  waitRunning,
  waitSettled,
} from '../../../../services/worker/migrate/readiness.js';
import { HELD_LABELS_ANNOTATION } from '../../../../services/worker/restored-pod.js';

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

/**
 * A run whose cluster answers getPod from `holder`, the pod now holding the
 * name; `onGet` sees each poll first (the n-th, from 1) and may change the holder.
 */
function fakeRun(holder: { pod: V1Pod | null }, onGet: (n: number) => void = () => {}) {
  let clock = 0;
  let gets = 0;
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
      config: { restoredSettleSeconds: 10 },
      cluster: {
        getPod: async () => {
          onGet(++gets);
          return holder.pod;
        },
      },
      metrics: { stage: <T>(_name: string, f: () => Promise<T>) => f() },
    },
  } as unknown as Run;
  return { run, warnings, now: () => clock };
}

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

describe('waitSettled', () => {
  const running = (uid: string, annotations?: Record<string, string>): V1Pod => ({
    metadata: { name: 'db-0', uid, ...(annotations ? { annotations } : {}) },
    status: {
      phase: 'Running',
      conditions: [{ type: 'ContainersReady', status: 'True' }],
      containerStatuses: [{ name: 'c', image: 'i', imageID: '', ready: true, restartCount: 0 }],
    },
  });

  it('a copy that keeps its name is returned once it has held it for the settle time', async () => {
    const ours = running('restored-copy');
    const { run, now } = fakeRun({ pod: ours });
    const p = await waitSettled(run, ours, async () => assert.fail('nothing to create'));
    assert.equal(p.metadata?.uid, 'restored-copy');
    assert.ok(now() >= 10_000, `held for the settle time, returned at ${now()} ms`);
  });

  it('a copy deleted by name after it ran, its controller already starting the pod afresh, is created again', async () => {
    const first = running('restored-copy');
    const holder: { pod: V1Pod | null } = { pod: first };
    // Seen running once; then a stale delete by name removes it and the StatefulSet makes a fresh db-0.
    const { run, warnings } = fakeRun(holder, (n) => {
      if (n === 2) holder.pod = running('controllers-fresh-pod');
    });
    const again = running('restored-copy-2');
    let creates = 0;
    const p = await waitSettled(run, first, async () => {
      creates++;
      holder.pod = again;
      return again;
    });
    assert.equal(creates, 1);
    assert.equal(p.metadata?.uid, 'restored-copy-2', 'never the fresh pod, nor the copy that lost the name');
    assert.match(warnings[0] ?? '', /removed after it ran/);
  });

  it('a copy that keeps losing its name is not reported restored', async () => {
    const holder: { pod: V1Pod | null } = { pod: running('restored-copy-0') };
    let n = 0;
    // Every copy runs, then a delete by name removes it.
    const { run } = fakeRun(holder, () => {
      if (holder.pod?.metadata?.uid?.startsWith('restored-copy') && n++ % 2 === 1) holder.pod = null;
    });
    let creates = 0;
    await assert.rejects(
      waitSettled(run, running('restored-copy-0'), async () => {
        const p = running(`restored-copy-${++creates}`);
        holder.pod = p;
        return p;
      }),
      (err: Error) => err instanceof FallBack && /lost its name after it ran/.test(err.message),
    );
  });

  it('a staged copy has a name of its own: nothing to wait for once it runs', async () => {
    const staged = running('staged-copy', { [HELD_LABELS_ANNOTATION]: '{}' });
    const { run, now } = fakeRun({ pod: staged });
    const p = await waitSettled(run, staged, async () => assert.fail('nothing to create'));
    assert.equal(p.metadata?.uid, 'staged-copy');
    assert.equal(now(), 0);
  });
});
