import assert from 'node:assert/strict';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import type { AgentHandle } from '../../../infra/sim/local-agent.js';
import { RealNodeBed, run } from '../../../infra/sim/real-node-bed.js';
import { CgroupFreezer } from '../../../services/agent/runtimes/kubelet/container-freezer.js';
import type { Manifest, NodeCapabilities, RestoreResponse } from '../../../services/common/agent-api.js';
import { archiveDigests } from '../../../services/common/agent-api.js';
import {
  containerdIdOf,
  counterCheckpointRequest,
  podContainersOn,
  untilSweptOnce,
} from '../../support/real-node-pods.js';
import { waitFor } from '../../support/stack.js';

/**
 * The production path end to end on two real nodes: a Deployment's opted-in
 * pod on real node A checkpointed through the kubelet API by its agent (its
 * own token), streamed to S3, restored on real node B from the checkpoint
 * image its agent imported into containerd, counting on with its memory.
 */
describe('real nodes: kubelet checkpoint on A, containerd restore on B', () => {
  const bed = new RealNodeBed();
  let agentA: AgentHandle;
  let agentB: AgentHandle;

  before(async () => {
    await bed.setUp();
    [agentA, agentB] = await Promise.all([bed.startAgent(bed.node(0)), bed.startAgent(bed.node(1))]);
  });
  after(() => bed.close());

  test('each agent reports what its node can do: containerd 2.2.4, CRIU 4.2 checked, checkpoint and restore', async () => {
    for (const [agent, node] of [
      [agentA, bed.node(0)],
      [agentB, bed.node(1)],
    ] as const) {
      const caps = await bed.callAgent<NodeCapabilities>(agent, 'GET', '/v1/capabilities');
      assert.equal(caps.status, 200);
      assert.equal(caps.body.node, node.name);
      assert.deepEqual(caps.body.runtime, { name: 'containerd', version: '2.2.4' });
      assert.equal(caps.body.criu.found, true);
      assert.match(caps.body.criu.version ?? '', /^4\.2(\.|$)/);
      assert.deepEqual(caps.body.checkpoint, { ok: true });
      assert.deepEqual(caps.body.restore, { ok: true });
      const ready = await fetch(`${agent.url}/readyz`);
      assert.equal(ready.status, 200);
      assert.deepEqual(((await ready.json()) as { checks: unknown }).checks, {
        runtime: 'ok',
        checkpoint: 'ok',
        restore: 'ok',
        containerRuntime: 'containerd 2.2.4',
      });
    }
    // Capabilities are the worker's to read, like the rest of the API.
    const anon = await fetch(`${agentA.url}/v1/capabilities`);
    assert.equal(anon.status, 401);
  });

  test("a Deployment's pod moves from A to B with its memory; containerd's own archive is what is restored", async () => {
    const a = bed.node(0);
    const b = bed.node(1);
    const original = await bed.deployCounter('counter', a, 64);
    const pidA = await bed.pidOf(a, original);
    await untilSweptOnce(bed, pidA);
    const req = counterCheckpointRequest(bed, original, 90_000);
    const cp = await bed.callAgent<Manifest>(agentA, 'POST', '/v1/checkpoints', req);
    assert.equal(cp.status, 200, JSON.stringify(cp.body));
    assert.equal(cp.body.runtime, 'kubelet');
    assert.equal(cp.body.sourceNode, a.name);
    assert.match(cp.body.criuVersion, /^4\.2(\.|$)/);
    const archive = cp.body.containers[0]!;
    assert.ok(archive.bytesRaw > 64 << 20, `the archive holds the 64 MiB (${archive.bytesRaw} bytes)`);
    // The raw archive held memory and secrets: gone from the node once stored.
    assert.deepEqual(
      (await readdir(a.checkpointsDir)).filter((f) => f.includes(original.metadata!.name!)),
      [],
    );

    // The stored archive is containerd's own layout (status.dump, gzip rootfs-diff, no deleted.files).
    const obj = await bed.s3.send(new GetObjectCommand({ Bucket: bed.bucket, Key: archive.key }));
    const zst = join(bed.dir, 'archive.tar.zst');
    await writeFile(zst, await obj.Body!.transformToByteArray());
    await run('zstd', ['-d', '-q', '-f', zst, '-o', join(bed.dir, 'archive.tar')]);
    const members = (await run('tar', ['-tf', join(bed.dir, 'archive.tar')], { maxBuffer: 16 << 20 })).stdout
      .split('\n')
      .filter(Boolean);
    for (const m of ['config.dump', 'spec.dump', 'status.dump', 'status', 'stats-dump', 'rootfs-diff.tar'])
      assert.ok(
        members.includes(m),
        `containerd's archive holds ${m}: ${members.filter((x) => !x.startsWith('checkpoint/')).join(' ')}`,
      );
    assert.ok(!members.includes('deleted.files'));
    await run('tar', ['-C', bed.dir, '-xf', join(bed.dir, 'archive.tar'), 'rootfs-diff.tar']);
    const magic = (await run('od', ['-An', '-tx1', '-N2', join(bed.dir, 'rootfs-diff.tar')])).stdout.trim();
    assert.equal(magic, '1f 8b', 'rootfs-diff.tar is gzip');

    // The source is frozen: its counter stands still.
    assert.equal(await new CgroupFreezer('/sys/fs/cgroup').isFrozen(containerdIdOf(original)), true);
    const frozenAt = await bed.progress(pidA);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await bed.progress(pidA)).counter, frozenAt.counter);

    const restoredName = 'counter-restored';
    const rs = await bed.callAgent<RestoreResponse>(agentB, 'POST', '/v1/restores', {
      archives: archiveDigests(cp.body),
      manifest: { bucket: bed.bucket, key: `${req.s3.prefix}/manifest.json` },
      target: { namespace: bed.namespace, pod: restoredName },
      deadline: new Date(Date.now() + 90_000).toISOString(),
    });
    assert.equal(rs.status, 200, JSON.stringify(rs.body));
    const image = rs.body.containers[0]!.image!;
    assert.match(image, /^localhost\/spot-rescue\/checkpoint:/);
    // In B's containerd, under the name the restored pod uses.
    const images = (
      await run(join(bed.env.runtimeBin, 'ctr'), [
        '--address',
        b.containerdSocket,
        '-n',
        'k8s.io',
        'images',
        'ls',
        '-q',
      ])
    ).stdout.split('\n');
    assert.ok(images.includes(image), `${image} imported into ${b.name}'s containerd`);

    const restored = await bed.runRestored(restoredName, b, image, original.spec!.containers[0]!.command!);
    assert.equal(restored.spec?.nodeName, b.name);
    const pidB = await bed.pidOf(b, restored);
    const resumed = await bed.progress(pidB);
    assert.ok(
      resumed.counter >= frozenAt.counter,
      `resumed at ${resumed.counter}, frozen at ${frozenAt.counter}`,
    );
    await waitFor(
      'the restored counter to count on',
      async () => (await bed.progress(pidB)).counter > resumed.counter + 5,
      {
        timeoutMs: 20_000,
      },
    );
    await waitFor(
      'a full sweep of the restored memory',
      async () => (await bed.progress(pidB)).sweeps > resumed.sweeps,
      {
        timeoutMs: 60_000,
      },
    );
    const after = await bed.progress(pidB);
    assert.equal(after.corrupt, 0, `memory pattern intact: ${after.raw}`);
    assert.equal(after.values['mib'], 64);

    // The original goes (the worker's part once the copy runs). Its process is frozen, so the kubelet's
    // kill stays pending: only the release (thaw) lets it take effect, and the thawed process dies at once.
    await bed.core.deleteNamespacedPod({
      namespace: bed.namespace,
      name: original.metadata!.name!,
      gracePeriodSeconds: 0,
    });
    const releaseRequest = {
      namespace: bed.namespace,
      pod: req.pod,
      podUid: req.podUid,
      containers: ['counter'],
      checkpointId: req.checkpointId,
    };
    const released = await bed.callAgent<{ thawed: string[] }>(
      agentA,
      'POST',
      '/v1/releases',
      releaseRequest,
    );
    assert.equal(released.status, 200, JSON.stringify(released.body));
    await waitFor(
      'no container of the original left running on A',
      async () => (await podContainersOn(bed, a, req.podUid)) === '',
      {
        timeoutMs: 60_000,
        intervalMs: 500,
      },
    );
    // Releasing again is harmless: nothing is frozen any more.
    const again = await bed.callAgent(agentA, 'POST', '/v1/releases', releaseRequest);
    assert.equal(again.status, 200);
    assert.deepEqual(again.body, { thawed: [] });
    // The restored copy is untouched by all this.
    assert.ok((await bed.progress(pidB)).counter > after.counter);
  });
});
