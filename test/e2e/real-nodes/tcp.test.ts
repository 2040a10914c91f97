import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { AgentHandle } from '../../../infra/sim/local-agent.js';
import { RealNodeBed } from '../../../infra/sim/real-node-bed.js';
import type { Manifest, RestoreResponse } from '../../../services/common/agent-api.js';
import { archiveDigests } from '../../../services/common/agent-api.js';
import { counterCheckpointRequest } from '../../support/real-node-pods.js';
import { waitFor } from '../../support/stack.js';
import { TCP_ECHO_COMMAND } from '../../support/tcp-echo-workload.js';

/**
 * The TCP echo workload (test/support/tcp-echo-workload.ts) as a pod on a
 * real node. containerd passes CRIU no TCP option: the dump works only
 * because the node's CRIU configuration says tcp-close (what the chart's
 * init container writes into /etc/criu/default.conf).
 */
describe('real nodes: a pod holding an established TCP connection moves; it reconnects, same process', () => {
  const bed = new RealNodeBed();
  let agentA: AgentHandle;
  let agentB: AgentHandle;

  before(async () => {
    await bed.setUp();
    [agentA, agentB] = await Promise.all([bed.startAgent(bed.node(0)), bed.startAgent(bed.node(1))]);
  });
  after(() => bed.close());

  test('checkpointed with its connection open, restored on B, the connection closed and made again', async () => {
    const a = bed.node(0);
    const b = bed.node(1);
    const pod = await bed.deployCounter('echo', a, 0, TCP_ECHO_COMMAND);
    const pidA = await bed.pidOf(a, pod);
    await waitFor(
      'echoes on the first connection',
      async () => (await bed.progress(pidA)).values['echoes']! > 3,
      {
        timeoutMs: 30_000,
      },
    );
    const before = await bed.progress(pidA);
    assert.equal(before.values['connections'], 1);
    const req = counterCheckpointRequest(bed, pod, 60_000);
    const cp = await bed.callAgent<Manifest>(agentA, 'POST', '/v1/checkpoints', req);
    assert.equal(cp.status, 200, JSON.stringify(cp.body));
    const frozen = await bed.progress(pidA);
    const rs = await bed.callAgent<RestoreResponse>(agentB, 'POST', '/v1/restores', {
      archives: archiveDigests(cp.body),
      manifest: { bucket: bed.bucket, key: `${req.s3.prefix}/manifest.json` },
      target: { namespace: bed.namespace, pod: 'echo-restored' },
    });
    assert.equal(rs.status, 200, JSON.stringify(rs.body));
    const restored = await bed.runRestored(
      'echo-restored',
      b,
      rs.body.containers[0]!.image!,
      TCP_ECHO_COMMAND,
    );
    const pidB = await bed.pidOf(b, restored);
    const afterMove = await waitFor(
      'the restored client to reconnect and echo',
      async () => {
        const p = await bed.progress(pidB);
        return p.values['connections']! >= 2 && p.values['echoes']! > 2 ? p : undefined;
      },
      { timeoutMs: 30_000 },
    );
    // Same process (boot drawn once, kept in memory), one more connection: the old one was closed.
    assert.equal(afterMove.values['boot'], frozen.values['boot']);
    assert.equal(afterMove.values['connections'], frozen.values['connections']! + 1);
  });
});
