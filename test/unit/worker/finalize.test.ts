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

// The local stack's moto does not implement CompleteLifecycleAction, so the
// request the worker sends is checked here; the node-outcome side runs against
// the real stack in test/integration/worker/finalize.test.ts.
describe('finalize-node', () => {
  const job = (lifecycle: boolean): FinalizeNodeJob => ({
    event: {
      id: 'e1',
      kind: 'asg-lifecycle-terminate',
      deadline: new Date(Date.now() + 60_000).toISOString(),
      receivedAt: new Date().toISOString(),
      eventTime: new Date().toISOString(),
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
    deadline: new Date(Date.now() + 60_000).toISOString(),
  });

  function deps(sent: unknown[], fail?: Error) {
    let left: V1Pod[] = [{ metadata: { uid: 'u1' } }];
    const stored: Record<string, string> = {};
    const cluster = {
      listPodsOnNode: async () => {
        const out = left;
        left = [];
        return out;
      },
      listAllPods: async (sel: string) => (sel.endsWith('=u1') ? [{}] : []),
    } as unknown as Cluster;
    return {
      d: {
        cluster,
        autoscaling: {
          send: async (c: unknown) => {
            sent.push(c);
            if (fail) throw fail;
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
        sleep: async () => {},
      },
      stored,
    };
  }

  it('waits for the planned pods, completes the lifecycle action with CONTINUE and records the outcome', async () => {
    const sent: unknown[] = [];
    const { d, stored } = deps(sent);
    const o = await finalizeNode(job(true), d);
    assert.equal(sent.length, 1);
    const c = sent[0] as CompleteLifecycleActionCommand;
    assert.ok(c instanceof CompleteLifecycleActionCommand);
    assert.deepEqual(c.input, {
      AutoScalingGroupName: 'asg',
      LifecycleHookName: 'hook',
      LifecycleActionResult: 'CONTINUE',
      LifecycleActionToken: 'tok',
    });
    assert.equal(o.lifecycleCompleted, true);
    assert.deepEqual([o.planned, o.restored, o.removed, o.remaining], [2, 1, 1, 0]);
    assert.equal(JSON.parse(stored['p:node-outcome:n'] ?? '{}').restored, 1);
  });

  it('no lifecycle action: nothing is sent; an action already gone counts as completed', async () => {
    const sent: unknown[] = [];
    assert.equal((await finalizeNode(job(false), deps(sent).d)).lifecycleCompleted, false);
    assert.equal(sent.length, 0);
    const gone = await finalizeNode(
      job(true),
      deps([], new Error('No active Lifecycle Action found with token')).d,
    );
    assert.equal(gone.lifecycleCompleted, true);
    await assert.rejects(finalizeNode(job(true), deps([], new Error('throttled')).d), /throttled/);
  });
});
