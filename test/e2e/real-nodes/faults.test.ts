import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { AgentHandle } from '../../../infra/sim/local-agent.js';
import { RealNodeBed } from '../../../infra/sim/real-node-bed.js';
import { CgroupFreezer } from '../../../services/agent/runtimes/kubelet/container-freezer.js';
import type { NodeCapabilities } from '../../../services/common/agent-api.js';
import {
  containerdIdOf,
  counterCheckpointRequest,
  holdDumpOf,
  untilSweptOnce,
} from '../../support/real-node-pods.js';
import { waitFor } from '../../support/stack.js';

/**
 * What must not happen on a real node when things go wrong: a kubelet
 * checkpoint outliving the agent's deadline leaves no archive behind and no
 * container frozen; a node that cannot restore (or checkpoint) says so and
 * refuses before touching anything.
 */
describe('real nodes: the deadline on the kubelet call, and a node that cannot restore', () => {
  const bed = new RealNodeBed();
  let agentA: AgentHandle;
  let crippled: AgentHandle;

  before(async () => {
    await bed.setUp();
    agentA = await bed.startAgent(bed.node(0), { SPOT_RESCUE_AGENT_LATE_DUMP_WINDOW_SECONDS: '15' });
    // real-b's agent as on a node where CRIU was never installed (an AL2023 node without the chart's init container).
    crippled = await bed.startAgent(bed.node(1), { SPOT_RESCUE_NODE_CRIU: join(bed.dir, 'no-criu-here') });
  });
  after(() => bed.close());

  test('a dump still running at the deadline: 504 at the deadline, no archive left, the pod never left frozen', async () => {
    const a = bed.node(0);
    const pod = await bed.deployCounter('big', a, 512);
    const pid = await bed.pidOf(a, pod);
    await untilSweptOnce(bed, pid, 120_000);
    // Long enough that the call reaches the kubelet first on a loaded machine (at 400 ms the deadline once
    // passed before the agent had sent it: no dump began, so a second checkpoint was rightly let in). The dump
    // itself is held (CRIU stopped) until the second request has been answered: on an idle machine the whole
    // 512 MiB dump once ended within the 2 s, and the agent rightly let the second one in.
    const req = counterCheckpointRequest(bed, pod, 2000);
    const holding = holdDumpOf(containerdIdOf(pod));
    holding.catch(() => {});
    const started = Date.now();
    const cp = await bed.callAgent(agentA, 'POST', '/v1/checkpoints', req);
    const dump = await holding;
    try {
      assert.equal(cp.status, 504, JSON.stringify(cp.body));
      assert.equal(cp.body['error'], 'deadline-exceeded');
      assert.ok(Date.now() - started < 5_000, 'answered at its deadline, not after the kubelet');
      // While the node is still dumping, no second checkpoint of that container.
      const second = await bed.callAgent(agentA, 'POST', '/v1/checkpoints', {
        ...req,
        checkpointId: `${req.checkpointId}-2`,
        deadline: new Date(Date.now() + 60_000).toISOString(),
      });
      assert.equal(second.status, 409, JSON.stringify(second.body));
      assert.equal(second.body['error'], 'conflict');
    } finally {
      dump.resume();
    }

    // The kubelet runs the CRI call on the request's context: containerd 2.2.4 abandons the dump when the
    // agent hangs up ("context canceled"). Whatever lands in the watch window is removed; after it, none is left.
    await new Promise((r) => setTimeout(r, 17_000));
    assert.deepEqual(
      (await readdir(a.checkpointsDir)).filter(
        (f) => f.startsWith('checkpoint-big_') && f.includes(bed.namespace),
      ),
      [],
    );
    assert.equal(await new CgroupFreezer('/sys/fs/cgroup').isFrozen(containerdIdOf(pod)), false);
    const c = (await bed.progress(pid)).counter;
    await waitFor('the pod to keep counting', async () => (await bed.progress(pid)).counter > c, {
      timeoutMs: 10_000,
    });
    assert.equal((await bed.progress(pid)).corrupt, 0);
  });

  test('a node without CRIU reports it, and refuses checkpoint and restore before touching anything', async () => {
    const b = bed.node(1);
    const caps = await bed.callAgent<NodeCapabilities>(crippled, 'GET', '/v1/capabilities');
    assert.equal(caps.status, 200);
    assert.deepEqual(caps.body.runtime, { name: 'containerd', version: '2.2.4' });
    assert.deepEqual(caps.body.criu, { found: false });
    assert.equal(caps.body.restore.ok, false);
    assert.match(caps.body.restore.reason!, /no-criu-here/);
    assert.equal(caps.body.checkpoint.ok, false);
    const ready = await fetch(`${crippled.url}/readyz`);
    assert.equal(ready.status, 503);

    const restore = await bed.callAgent(crippled, 'POST', '/v1/restores', {
      archives: [
        { name: 'app', key: 'none/app.tar.zst', bytesRaw: 1, bytesCompressed: 1, sha256: '0'.repeat(64) },
      ],
      manifest: { bucket: bed.bucket, key: 'real/none/manifest.json' },
      target: { namespace: bed.namespace, pod: 'nowhere' },
    });
    assert.equal(restore.status, 422, JSON.stringify(restore.body));
    assert.equal(restore.body['error'], 'unsupported');
    assert.match(String(restore.body['message']), /cannot restore/);

    // A pod on that node is refused at once and never frozen: the worker drains it.
    const pod = await bed.deployCounter('stays', b, 16);
    const pid = await bed.pidOf(b, pod);
    const cp = await bed.callAgent(
      crippled,
      'POST',
      '/v1/checkpoints',
      counterCheckpointRequest(bed, pod, 60_000),
    );
    assert.equal(cp.status, 422, JSON.stringify(cp.body));
    assert.equal(cp.body['error'], 'unsupported');
    assert.equal(await new CgroupFreezer('/sys/fs/cgroup').isFrozen(containerdIdOf(pod)), false);
    const c = (await bed.progress(pid)).counter;
    await waitFor('the refused pod to keep counting', async () => (await bed.progress(pid)).counter > c, {
      timeoutMs: 10_000,
    });
    assert.deepEqual(
      (await readdir(b.checkpointsDir)).filter((f) => f.includes(bed.namespace)),
      [],
      'no archive was made',
    );
  });
});
