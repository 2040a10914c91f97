import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { AgentHandle } from '../../../infra/sim/local-agent.js';
import { RealNodeBed } from '../../../infra/sim/real-node-bed.js';
import type { Manifest, RestoreResponse } from '../../../services/common/agent-api.js';
import { archiveDigests } from '../../../services/common/agent-api.js';
import { waitFor } from '../../support/stack.js';

/**
 * The workload of test/e2e/agent/tcp-close.test.ts, as a pod on a real node:
 * an echo server and a client holding one established connection to it,
 * counting connections in the shell's memory, with `boot` drawn once at start.
 * containerd passes CRIU no TCP option: the dump works only because the
 * node's CRIU configuration says tcp-close (what the chart's init container
 * writes into /etc/criu/default.conf).
 */
const WORKLOAD = `
/bin/busybox nc -ll -p 7000 -e /bin/cat &
until /bin/busybox netstat -ltn | grep -q ':7000 '; do sleep 0.1; done
boot=$RANDOM$RANDOM
n=0
while :; do
  n=$((n+1))
  (while :; do echo tick; sleep 0.2; done) | /bin/busybox nc 127.0.0.1 7000 | (
    e=0
    while read -r _; do
      e=$((e+1))
      echo "connections=$n echoes=$e boot=$boot" > /state/progress.tmp
      mv /state/progress.tmp /state/progress
    done
  )
  sleep 0.2
done
`;

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
    const command = ['/bin/sh', '-c', WORKLOAD];
    const pod = await bed.deployCounter('echo', a, 0, command);
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
    const checkpointId = `cp-${randomUUID().slice(0, 8)}`;
    const prefix = `real/${bed.namespace}/echo/${checkpointId}`;
    const cp = await bed.callAgent<Manifest>(agentA, 'POST', '/v1/checkpoints', {
      namespace: bed.namespace,
      pod: pod.metadata!.name!,
      podUid: pod.metadata!.uid!,
      containers: ['counter'],
      checkpointId,
      deadline: new Date(Date.now() + 60_000).toISOString(),
      s3: { bucket: bed.bucket, prefix },
    });
    assert.equal(cp.status, 200, JSON.stringify(cp.body));
    const frozen = await bed.progress(pidA);
    const rs = await bed.callAgent<RestoreResponse>(agentB, 'POST', '/v1/restores', {
      archives: archiveDigests(cp.body),
      manifest: { bucket: bed.bucket, key: `${prefix}/manifest.json` },
      target: { namespace: bed.namespace, pod: 'echo-restored' },
    });
    assert.equal(rs.status, 200, JSON.stringify(rs.body));
    const restored = await bed.runRestored('echo-restored', b, rs.body.containers[0]!.image!, command);
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
