import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { AppsV1Api, type V1Pod } from '@kubernetes/client-node';
import { RealNodeBed } from '../../../infra/sim/real-node-bed.js';
import {
  clearInterruption,
  deployRescuable,
  optInNamespace,
  type RealRescue,
  startRealRescue,
} from '../../../infra/sim/real-node-rescue.js';
import type { RealNode } from '../../../infra/sim/real-nodes-env.js';
import { CgroupFreezer } from '../../../services/agent/runtimes/kubelet/container-freezer.js';
import { RESTORED_FROM_ANNOTATION } from '../../../services/common/labels.js';
import { containerdIdOf, podContainersOn, untilSweptOnce } from '../../support/real-node-pods.js';
import { waitFor } from '../../support/stack.js';

/**
 * The production flow on the stack's real nodes: a real-shaped Spot
 * interruption warning for real-a's instance goes to the listener's SQS
 * queue; the listener taints the node and enqueues the job, the worker has
 * real-a's agent checkpoint the pod through the kubelet and real-b's agent
 * restore it from a checkpoint image in containerd. And when real-b cannot
 * restore, the worker drains the pod at once without freezing it.
 */
describe('real nodes: the worker rescues a Deployment pod from real-a to real-b', () => {
  const bed = new RealNodeBed('exclusive');
  const freezer = new CgroupFreezer('/sys/fs/cgroup');
  let rescue: RealRescue | undefined;

  before(async () => {
    await bed.setUp();
    await optInNamespace(bed);
    for (const n of bed.env.nodes) await clearInterruption(bed.core, n.name);
  });
  after(async () => {
    await rescue?.stop();
    for (const n of bed.env.nodes) await clearInterruption(bed.core, n.name).catch(() => {});
    await bed.close();
  });

  /** Follows the source process until it goes: the last counter it showed, and whether it was ever frozen. */
  function followSource(pod: V1Pod, pid: number) {
    const seen = { counter: -1, frozen: false, samples: 0, done: false };
    const id = containerdIdOf(pod);
    const loop = (async () => {
      while (!seen.done) {
        try {
          if (await freezer.isFrozen(id)) seen.frozen = true;
          else seen.counter = Math.max(seen.counter, (await bed.progress(pid)).counter);
          seen.samples++;
        } catch {
          // the process is gone
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    return {
      seen,
      stop: async () => {
        seen.done = true;
        await loop;
      },
    };
  }

  async function podsOf(app: string): Promise<V1Pod[]> {
    return (await bed.core.listNamespacedPod({ namespace: bed.namespace, labelSelector: `app=${app}` }))
      .items;
  }

  /** A rescuable Deployment's pod running on `node` with its memory swept once, and its source followed from then on. */
  async function deployFollowed(name: string, node: RealNode) {
    const original = await deployRescuable(bed, name, node, 64);
    const pid = await bed.pidOf(node, original);
    await untilSweptOnce(bed, pid);
    return { original, uid: original.metadata!.uid!, pid, source: followSource(original, pid) };
  }

  test('the listener, the worker and the kubelet path move the pod with its memory; one replica, nothing frozen', async () => {
    const [a, b] = [bed.node(0), bed.node(1)];
    rescue = await startRealRescue(bed);
    const { original, uid, pid: pidA, source } = await deployFollowed('counter', a);
    // containerd resumes the container after its dump and the agent freezes it only then: what the
    // source counts past the dump is not in the checkpoint, what it counted before the warning is.
    const counted = (await bed.progress(pidA)).counter;

    await rescue.interrupt(a.instanceId);
    await rescue.listener.waitForLine((l) => l.msg === 'jobs enqueued', 60_000);
    const finished = await rescue.worker.waitForLine((l) => l.msg === 'migration finished', 150_000);
    await source.stop();
    assert.equal(finished['outcome'], 'restored', JSON.stringify(finished));
    assert.equal(finished['target'], b.name);
    assert.ok(source.seen.frozen, 'the source was frozen for its checkpoint');

    // The copy: on real-b, from a checkpoint image, in the Deployment's place.
    const restored = await waitFor(
      'the restored pod running on real-b',
      async () =>
        (await podsOf('counter')).find(
          (p) =>
            p.metadata?.annotations?.[RESTORED_FROM_ANNOTATION] === uid &&
            p.status?.containerStatuses?.[0]?.state?.running,
        ),
      { timeoutMs: 30_000 },
    );
    assert.equal(restored.spec?.nodeName, b.name);
    assert.match(restored.spec!.containers[0]!.image!, /^localhost\/spot-rescue\/checkpoint:/);
    const pidB = await bed.pidOf(b, restored);
    const resumed = await bed.progress(pidB);
    assert.ok(counted > 0);
    assert.ok(
      resumed.counter >= counted,
      `resumed at ${resumed.counter}, the source showed ${counted} before the warning`,
    );
    await waitFor(
      'a full sweep of the restored memory',
      async () => (await bed.progress(pidB)).sweeps > resumed.sweeps,
      {
        timeoutMs: 60_000,
      },
    );
    const later = await bed.progress(pidB);
    assert.equal(later.corrupt, 0, `memory pattern intact: ${later.raw}`);
    assert.ok(later.counter > resumed.counter, `counting on: ${later.counter} > ${resumed.counter}`);

    // The original is gone, its containers too, nothing frozen left on real-a.
    await waitFor(
      'the original pod to be gone',
      async () =>
        !(await bed.core.readNamespacedPod({ namespace: bed.namespace, name: original.metadata!.name! }).then(
          (p) => p.metadata?.uid === uid,
          () => false,
        )),
      { timeoutMs: 60_000 },
    );
    await waitFor(
      'no container of the original on real-a',
      async () => (await podContainersOn(bed, a, uid)) === '',
      {
        timeoutMs: 60_000,
      },
    );
    assert.equal(await freezer.isFrozen(containerdIdOf(original)).catch(() => false), false);

    // The Deployment still has one replica, and exactly one pod runs: the restored one.
    const apps = bed.kc.makeApiClient(AppsV1Api);
    await new Promise((r) => setTimeout(r, 3_000));
    const dep = await apps.readNamespacedDeployment({ namespace: bed.namespace, name: 'counter' });
    assert.equal(dep.spec?.replicas, 1);
    const live = (await podsOf('counter')).filter((p) => !p.metadata?.deletionTimestamp);
    assert.deepEqual(
      live.map((p) => p.metadata?.name),
      [restored.metadata?.name],
      'exactly one pod of the Deployment, the restored one',
    );
    await rescue.stop();
    rescue = undefined;
  });

  test('real-b cannot restore: the worker drains the pod from real-a at once, without a checkpoint or a freeze', async () => {
    const [a, b] = [bed.node(0), bed.node(1)];
    await clearInterruption(bed.core, a.name);
    // real-b's agent as on a node where CRIU was never installed: it reports restore (and checkpoint) impossible.
    rescue = await startRealRescue(bed, {
      agentEnv: { [b.name]: { SPOT_RESCUE_NODE_CRIU: join(bed.dir, 'no-criu-here') } },
    });
    const { uid, source } = await deployFollowed('drained', a);

    await rescue.interrupt(a.instanceId);
    await rescue.listener.waitForLine((l) => l.msg === 'jobs enqueued', 60_000);
    const finished = await rescue.worker.waitForLine((l) => l.msg === 'migration finished', 150_000);
    await source.stop();
    assert.equal(finished['outcome'], 'evicted', JSON.stringify(finished));
    assert.ok(source.seen.samples > 0);
    assert.equal(source.seen.frozen, false, 'the source was never frozen');
    assert.ok(
      !rescue.worker.lines.some((l) => l.msg === 'checkpointed'),
      'the worker asked for no checkpoint',
    );
    const agentA = rescue.agents.get(a.name)!;
    assert.ok(!agentA.lines.some((l) => l.msg === 'container archived'), "real-a's agent archived nothing");
    assert.deepEqual(
      (await readdir(a.checkpointsDir)).filter((f) => f.includes(bed.namespace)),
      [],
      'the kubelet made no checkpoint',
    );
    const stored = await bed.s3.send(
      new ListObjectsV2Command({ Bucket: bed.bucket, Prefix: `real-nodes/${bed.namespace}/drained-` }),
    );
    assert.equal(stored.KeyCount ?? 0, 0, 'nothing stored for the drained pod');

    // Drained as a drain would: the original goes and the ReplicaSet starts a fresh pod on real-b.
    const fresh = await waitFor(
      'a fresh pod of the Deployment running on real-b',
      async () =>
        (await podsOf('drained')).find(
          (p) =>
            p.metadata?.uid !== uid &&
            !p.metadata?.annotations?.[RESTORED_FROM_ANNOTATION] &&
            p.spec?.nodeName === b.name &&
            p.status?.containerStatuses?.[0]?.state?.running,
        ),
      { timeoutMs: 90_000, intervalMs: 500 },
    );
    assert.equal(fresh.spec!.containers[0]!.image, bed.env.workloadImage);
    await waitFor(
      'no container of the original on real-a',
      async () => (await podContainersOn(bed, a, uid)) === '',
      {
        timeoutMs: 60_000,
      },
    );
  });
});
