import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  buildEvent,
  SIMULATED_KINDS,
  type SimulatedKind,
  simulatedAlarmTopicArn,
} from '../../../infra/sim/events.js';
import { readConfig } from '../../../services/common/config.js';
import { classifyMessage } from '../../../services/listener/classify.js';
import { classifySettings } from '../../../services/listener/settings.js';

// The simulator is only useful if the listener reads what it sends exactly as it reads AWS's own events.
const expected: Record<SimulatedKind, string> = {
  'spot-interruption': 'spot-interruption',
  'rebalance-recommendation': 'rebalance-recommendation',
  'instance-state-change': 'instance-state-change',
  'scheduled-maintenance': 'scheduled-maintenance',
  'asg-lifecycle-terminate': 'asg-lifecycle-terminate',
  'asg-lifecycle-terminate-direct': 'asg-lifecycle-terminate',
  'cloudwatch-alarm': 'cloudwatch-alarm',
  'cloudwatch-alarm-sns': 'cloudwatch-alarm',
};

for (const kind of SIMULATED_KINDS) {
  test(`a simulated ${kind} event is classified as ${expected[kind]} for its instance`, () => {
    const time = new Date('2026-09-01T12:00:00Z');
    const body = JSON.stringify(buildEvent(kind, { instanceId: 'i-0123456789abcdef0', time }));
    const config = readConfig(classifySettings, { SPOT_RESCUE_SNS_TOPIC_ARNS: simulatedAlarmTopicArn() });
    const c = classifyMessage(body, { now: time, config });
    assert.equal(c.outcome, 'act', JSON.stringify(c));
    if (c.outcome !== 'act') return;
    assert.equal(c.event.kind, expected[kind]);
    assert.deepEqual(c.event.instanceIds, ['i-0123456789abcdef0']);
  });
}

test('a spot warning built for a given time has its two-minute deadline', () => {
  const time = new Date('2026-09-01T12:00:00Z');
  const body = JSON.stringify(buildEvent('spot-interruption', { instanceId: 'i-0123456789abcdef0', time }));
  const c = classifyMessage(body, { now: time, config: readConfig(classifySettings, {}) });
  assert.equal(c.outcome === 'act' ? c.event.deadline : undefined, '2026-09-01T12:02:00.000Z');
});
