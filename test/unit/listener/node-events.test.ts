import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NODE_EVENT_REASONS } from '../../../services/common/event-reasons.js';
import type { ActionableEvent } from '../../../services/listener/events/source.js';
import { nodeStory, waitingForRedisStory } from '../../../services/listener/node-events.js';
import type { PodPlan } from '../../../services/listener/plan.js';
import { rescueFinishedEvent } from '../../../services/worker/node-finished-event.js';

const received = new Date('2026-09-01T12:00:10Z');
const spot: ActionableEvent = {
  kind: 'spot-interruption',
  eventId: 'e-1',
  instanceIds: ['i-0abc123def4567890'],
  deadline: '2026-09-01T12:02:00.000Z',
  eventTime: '2026-09-01T12:00:00.000Z',
  response: 'drain',
};
const job = (name: string) => ({ name }) as PodPlan['jobs'][number];

describe('the story a node tells', () => {
  it('drain: received (with the time left), cordoned, planned with counts', () => {
    const plan: PodPlan = {
      jobs: [job('migrate-pod'), job('migrate-pod'), job('evict-pod'), job('finalize-node')],
      skipped: [{ pod: 'ds', reason: 'owned by a DaemonSet' }],
    };
    assert.deepEqual(
      nodeStory(spot, plan, received).map((e) => [e.type, e.reason, e.note]),
      [
        [
          'Warning',
          NODE_EVENT_REASONS.interruptionReceived,
          'spot-interruption e-1: deadline 2026-09-01T12:02:00.000Z (110 s left)',
        ],
        [
          'Normal',
          NODE_EVENT_REASONS.cordoned,
          'tainted spot-rescue.io/interrupted=spot-interruption:NoSchedule and cordoned',
        ],
        [
          'Normal',
          NODE_EVENT_REASONS.rescuePlanned,
          '3 pods planned: 2 to migrate, 1 to evict, 1 left alone',
        ],
      ],
    );
  });

  it('cordon only: no plan event', () => {
    const rebalance: ActionableEvent = {
      ...spot,
      kind: 'rebalance-recommendation',
      deadline: null,
      response: 'cordon',
    };
    const story = nodeStory(rebalance, { jobs: [], skipped: [] }, received);
    assert.deepEqual(
      story.map((e) => e.reason),
      [NODE_EVENT_REASONS.interruptionReceived, NODE_EVENT_REASONS.cordoned],
    );
    assert.equal(story[0]!.note, 'rebalance-recommendation e-1: no deadline');
  });

  it('cordoned without Redis: one Warning with the time left, the cause, and that the pods stay', () => {
    assert.deepEqual(
      waitingForRedisStory(spot, received, 'no-connection').map((e) => [e.type, e.reason, e.action, e.note]),
      [
        [
          'Warning',
          NODE_EVENT_REASONS.rescueWaitingForRedis,
          'Cordon',
          'spot-interruption e-1: deadline 2026-09-01T12:02:00.000Z (110 s left). Redis is unreachable: ' +
            'tainted spot-rescue.io/interrupted=spot-interruption:NoSchedule and cordoned; ' +
            'its pods stay until Redis is back and the rescue is planned',
        ],
      ],
    );
    const rebalance: ActionableEvent = {
      ...spot,
      kind: 'rebalance-recommendation',
      deadline: null,
      response: 'cordon',
    };
    assert.equal(
      waitingForRedisStory(rebalance, received, 'timeout')[0]!.note,
      'rebalance-recommendation e-1: no deadline. Redis did not answer in time: ' +
        'tainted spot-rescue.io/interrupted=rebalance-recommendation:NoSchedule and cordoned',
    );
  });

  it('every reason is UpperCamelCase and unique', () => {
    const reasons = Object.values(NODE_EVENT_REASONS);
    assert.equal(new Set(reasons).size, reasons.length);
    for (const r of reasons) assert.match(r, /^[A-Z][A-Za-z]+$/);
  });
});

describe('how a node finished (the worker)', () => {
  const base = {
    node: 'n',
    instanceId: 'i-0abc123def4567890',
    eventId: 'e-1',
    lifecycleCompleted: false,
    finishedAt: '2026-09-01T12:01:50.000Z',
  };
  it('every pod migrated: Normal, with the counts', () => {
    const e = rescueFinishedEvent({ ...base, planned: 3, restored: 3, removed: 0, remaining: 0 });
    assert.deepEqual(
      [e.type, e.reason, e.note],
      ['Normal', NODE_EVENT_REASONS.rescueFinished, '3 pods planned: 3 migrated, 0 evicted or gone'],
    );
  });
  it('some evicted, some left, lifecycle completed: Warning', () => {
    const e = rescueFinishedEvent({
      ...base,
      planned: 4,
      restored: 1,
      removed: 2,
      remaining: 1,
      lifecycleCompleted: true,
    });
    assert.equal(e.type, 'Warning');
    assert.equal(
      e.note,
      '4 pods planned: 1 migrated, 2 evicted or gone, 1 still on the node at the deadline; lifecycle action completed',
    );
  });
});
