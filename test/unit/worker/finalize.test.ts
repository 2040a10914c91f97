import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CompleteLifecycleActionCommand } from '@aws-sdk/client-auto-scaling';
import type { V1Pod } from '@kubernetes/client-node';
import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import type { FinalizeNodeJob } from '../../../services/common/jobs.js';
import { createLogger } from '../../../services/common/logger.js';
import type { Cluster } from '../../../services/worker/cluster.js';
import { finalizeNode } from '../../../services/worker/finalize.js';
import { WorkerMetrics } from '../../../services/worker/metrics.js';

const START = Date.parse('2026-09-01T12:00:00.000Z');
const DEADLINE = START + 60_000;

// The local stack's moto does not implement CompleteLifecycleAction, so the
// request the worker sends is checked here; the node-outcome side runs against
// the real stack in test/integration/worker/finalize.test.ts.
describe('finalize-node', () => {
  const job = (lifecycle: boolean): FinalizeNodeJob => ({
    event: {
      id: 'e1',
      kind: 'asg-lifecycle-terminate',
      deadline: new Date(DEADLINE).toISOString(),
      receivedAt: new Date(START).toISOString(),
      eventTime: new Date(START).toISOString(),
      ...(lifecycle
        ? {
            lifecycleAction: {
              autoScalingGroupName: 'asg',
              lifecycleHookName: 'hook',
              lifecycleActionToken: 'tok',
              instanceId: 'i-0123456789abcdef0',
            },
          }
        : {}),
    },
    node: { name: 'n', instanceId: 'i-0123456789abcdef0' },
    podUids: ['u1', 'u2'],
    deadline: new Date(DEADLINE).toISOString(),
  });

  const pod = (uid: string, terminating = false): V1Pod => ({
    metadata: { uid, ...(terminating ? { deletionTimestamp: new Date(START) } : {}) },
  });

  /**
   * The node's pods at each poll (the last list stays once the script runs
   * out), u1 restored elsewhere, and a clock that moves only when finalize
   * sleeps. `sent` records the lifecycle call with the clock and the pods on
   * the node at that moment, so a test can see what finalize had waited for.
   */
  function deps(o: { polls?: V1Pod[][]; fail?: Error } = {}) {
    const polls = [...(o.polls ?? [[pod('u1')], []])];
    let onNode: V1Pod[] = [];
    let now = START;
    const sent: { command: unknown; at: number; onNode: V1Pod[] }[] = [];
    const stored: Record<string, string> = {};
    const cluster = {
      listPodsOnNode: async () => {
        onNode = polls.length > 1 ? polls.shift()! : (polls[0] ?? []);
        return onNode;
      },
      listAllPods: async (sel: string) => (sel.endsWith('=u1') ? [{}] : []),
    } as unknown as Cluster;
    return {
      d: {
        cluster,
        autoscaling: {
          send: async (command: unknown) => {
            sent.push({ command, at: now, onNode });
            if (o.fail) throw o.fail;
            return {};
          },
        } as never,
        redis: {
          set: async (k: string, v: string) => {
            stored[k] = v;
            return 'OK';
          },
        } as unknown as Redis,
        prefix: 'p',
        metrics: new WorkerMetrics(new Registry()),
        log: createLogger('test', 'silent'),
        now: () => now,
        sleep: async (ms: number) => {
          now += ms;
        },
      },
      sent,
      stored,
    };
  }

  it('waits for the planned pods, completes the lifecycle action with CONTINUE and records the outcome', async () => {
    const { d, sent, stored } = deps();
    const o = await finalizeNode(job(true), d);
    assert.equal(sent.length, 1);
    const c = sent[0]!.command as CompleteLifecycleActionCommand;
    assert.ok(c instanceof CompleteLifecycleActionCommand);
    assert.deepEqual(c.input, {
      AutoScalingGroupName: 'asg',
      LifecycleHookName: 'hook',
      LifecycleActionResult: 'CONTINUE',
      LifecycleActionToken: 'tok',
    });
    assert.deepEqual(sent[0]!.onNode, [], 'the instance let go only once its planned pods had left');
    assert.equal(o.lifecycleCompleted, true);
    assert.deepEqual([o.planned, o.restored, o.removed, o.remaining], [2, 1, 1, 0]);
    assert.equal(JSON.parse(stored['p:node-outcome:n'] ?? '{}').restored, 1);
  });

  it('a terminating planned pod has left, and an unplanned pod (a DaemonSet) is not waited for', async () => {
    const { d, sent } = deps({ polls: [[pod('u1', true), pod('daemon')]] });
    const o = await finalizeNode(job(true), d);
    assert.equal(sent[0]!.at, START, 'finalized at the first look, without waiting');
    assert.deepEqual([o.planned, o.restored, o.removed, o.remaining], [2, 1, 1, 0]);
  });

  it('a planned pod that never leaves: gives up 2 s before the deadline, says so, and still lets the instance go', async () => {
    const { d, sent, stored } = deps({ polls: [[pod('u2')]] });
    const o = await finalizeNode(job(true), d);
    assert.equal(sent.length, 1);
    assert.equal(sent[0]!.at, DEADLINE - 2000);
    assert.deepEqual([o.planned, o.restored, o.removed, o.remaining], [2, 1, 0, 1]);
    assert.equal(JSON.parse(stored['p:node-outcome:n'] ?? '{}').remaining, 1);
  });

  it('no lifecycle action: nothing is sent; an action already gone counts as completed', async () => {
    const quiet = deps();
    assert.equal((await finalizeNode(job(false), quiet.d)).lifecycleCompleted, false);
    assert.equal(quiet.sent.length, 0);
    const gone = await finalizeNode(
      job(true),
      deps({ fail: new Error('No active Lifecycle Action found with token') }).d,
    );
    assert.equal(gone.lifecycleCompleted, true);
    await assert.rejects(finalizeNode(job(true), deps({ fail: new Error('throttled') }).d), /throttled/);
  });
});
