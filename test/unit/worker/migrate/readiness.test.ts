import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1ContainerStatus, V1Node, V1Pod } from '@kubernetes/client-node';
import { TAINT_KEY } from '../../../../services/common/labels.js';
import { FallBack, type Run } from '../../../../services/worker/migrate/context.js';
import {
  restoredPodFailure,
  waitRunning,
  waitSettled,
} from '../../../../services/worker/migrate/readiness.js';
import { UNSCHEDULABLE_TAINT } from '../../../../services/worker/migrate/scheduler-refusal.js';
import { HELD_LABELS_ANNOTATION, pinnedTo } from '../../../../services/worker/restored-pod.js';

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
 * name, and getNode from `nodes`; `onGet` sees each poll first (the n-th,
 * from 1) and may change the holder.
 */
function fakeRun(
  holder: { pod: V1Pod | null },
  onGet: (n: number) => void = () => {},
  nodes: Record<string, V1Node> = {},
) {
  let clock = 0;
  let gets = 0;
  const warnings: string[] = [];
  const infos: { o: unknown; msg: string }[] = [];
  const run = {
    namespace: 'ns',
    restoreDeadline: 60_000,
    pollMs: 100,
    now: () => clock,
    sleep: async (ms: number) => {
      clock += ms;
    },
    progress: {},
    log: {
      warn: (_o: unknown, msg: string) => warnings.push(msg),
      info: (o: unknown, msg: string) => infos.push({ o, msg }),
    },
    d: {
      config: { restoredSettleSeconds: 10 },
      cluster: {
        getPod: async () => {
          onGet(++gets);
          return holder.pod;
        },
        getNode: async (name: string) => nodes[name] ?? null,
      },
      metrics: { stage: <T>(_name: string, f: () => Promise<T>) => f() },
    },
  } as unknown as Run;
  return { run, warnings, infos, now: () => clock };
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

describe('waitRunning: a copy the scheduler refuses on its target', () => {
  const refusal =
    "0/4 nodes are available: 1 node(s) had untolerated taint(s), 3 node(s) didn't satisfy plugin(s) [NodeAffinity]. " +
    'no new claims to deallocate, preemption: 0/4 nodes are available: 4 Preemption is not helpful for scheduling.';
  const pending = (message = refusal): V1Pod => ({
    metadata: { name: 'db-0', uid: 'restored-copy' },
    spec: { containers: [], affinity: pinnedTo(undefined, 'target') },
    status: {
      phase: 'Pending',
      conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message }],
    },
  });
  const running: V1Pod = {
    ...pending(),
    spec: { ...pending().spec!, nodeName: 'target' },
    status: {
      phase: 'Running',
      conditions: [
        { type: 'PodScheduled', status: 'True' },
        { type: 'ContainersReady', status: 'True' },
      ],
      containerStatuses: [{ name: 'c', image: 'i', imageID: '', ready: true, restartCount: 0 }],
    },
  };
  const target = (taints: { key: string; effect: string }[], unschedulable = false): V1Node => ({
    metadata: { name: 'target', creationTimestamp: new Date(0) },
    spec: { unschedulable, taints },
    status: { conditions: [{ type: 'Ready', status: 'True' }] },
  });
  const lingering = { key: UNSCHEDULABLE_TAINT, effect: 'NoSchedule' };

  it("for an uncordoned target's lingering taint: waits, says so, and returns the copy once placed", async () => {
    const holder: { pod: V1Pod | null } = { pod: pending() };
    const nodes = { target: target([lingering]) };
    const { run, infos } = fakeRun(
      holder,
      (n) => {
        if (n === 8) nodes.target = target([]); // the node lifecycle controller takes the taint off
        if (n === 10) holder.pod = running; // and the scheduler places the copy
      },
      nodes,
    );
    const p = await waitRunning(run, pending(), async () => assert.fail('nothing to create'));
    assert.equal(p.status?.phase, 'Running');
    const waits = infos.filter((i) => /waits for its target's taint to go/.test(i.msg));
    assert.deepEqual(
      waits.map((w) => (w.o as { taints: string[] }).taints),
      [[UNSCHEDULABLE_TAINT]],
      'said once, with the taint',
    );
  });

  it('a taint that stays past the deadline: the fallback names it', async () => {
    const { run } = fakeRun({ pod: pending() }, () => {}, { target: target([lingering]) });
    await assert.rejects(
      waitRunning(run, pending(), async () => assert.fail('nothing to create')),
      (err: Error) =>
        err instanceof FallBack &&
        /did not become ready in time: .*on target.*node\.kubernetes\.io\/unschedulable/.test(err.message),
    );
  });

  it('for our own interruption taint, or a cordon: drained at once, as before', async () => {
    for (const node of [
      target([lingering, { key: TAINT_KEY, effect: 'NoSchedule' }], true),
      target([lingering], true),
    ]) {
      const { run, now } = fakeRun({ pod: pending() }, () => {}, { target: node });
      await assert.rejects(
        waitRunning(run, pending(), async () => assert.fail('nothing to create')),
        (err: Error) =>
          err instanceof FallBack &&
          /^the scheduler refuses the restored pod on its target/.test(err.message),
      );
      assert.equal(now(), 0, 'not waited for');
    }
  });

  it('for anything but taints: drained at once, as before', async () => {
    const antiAffinity = refusal.replace('had untolerated taint(s)', "didn't match pod anti-affinity rules");
    const { run, now } = fakeRun({ pod: pending(antiAffinity) }, () => {}, { target: target([lingering]) });
    await assert.rejects(
      waitRunning(run, pending(antiAffinity), async () => assert.fail('nothing to create')),
      (err: Error) => err instanceof FallBack && /anti-affinity/.test(err.message),
    );
    assert.equal(now(), 0, 'not waited for');
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
