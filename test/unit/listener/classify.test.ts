import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { classifyMessage } from '../../../services/listener/classify.js';
import { classificationLine } from '../../../services/listener/classify-command.js';
import type { Classification } from '../../../services/listener/events/source.js';
import type { ClassifyConfig } from '../../../services/listener/settings.js';

const fixture = (name: string) =>
  readFileSync(new URL(`../../fixtures/events/${name}`, import.meta.url), 'utf8');
const NOW = new Date('2026-09-01T12:00:30.000Z');
const ALARM_TOPIC = 'arn:aws:sns:us-east-1:111122223333:spot-rescue-alarms';
const CONFIG: ClassifyConfig = {
  rebalancePolicy: 'cordon',
  asgHeartbeatTimeoutSeconds: 300,
  cloudwatchBudgetSeconds: 120,
  snsTopicArns: [ALARM_TOPIC],
  maxMessageBytes: 256 * 1024,
};
const classify = (body: string, config: Partial<ClassifyConfig> = {}) =>
  classifyMessage(body, { now: NOW, config: { ...CONFIG, ...config } });
const line = (body: string, config: Partial<ClassifyConfig> = {}) =>
  JSON.parse(classificationLine(classify(body, config)));
const INSTANCE = 'i-0abc123def4567890';

function acted(c: Classification) {
  assert.equal(c.outcome, 'act', JSON.stringify(c));
  return (c as Extract<Classification, { outcome: 'act' }>).event;
}

describe('classifying every sample event', () => {
  it('spot interruption warning: event time + 120 s', () => {
    assert.deepEqual(line(fixture('spot-interruption-warning.json')), {
      outcome: 'act',
      kind: 'spot-interruption',
      eventId: '7e1d5a2c-0000-4b1a-9d3e-2f6c1a9b8e70',
      instanceIds: [INSTANCE],
      deadline: '2026-09-01T12:02:00.000Z',
    });
    assert.equal(acted(classify(fixture('spot-interruption-warning.json'))).response, 'drain');
  });

  it('rebalance recommendation: no deadline; the policy decides what happens', () => {
    const body = fixture('rebalance-recommendation.json');
    assert.deepEqual(line(body), {
      outcome: 'act',
      kind: 'rebalance-recommendation',
      eventId: '5d2a7e11-1a2b-4c3d-8e9f-0a1b2c3d4e5f',
      instanceIds: [INSTANCE],
      deadline: null,
    });
    assert.equal(acted(classify(body)).response, 'cordon');
    assert.equal(acted(classify(body, { rebalancePolicy: 'migrate' })).response, 'drain');
    assert.equal(classify(body, { rebalancePolicy: 'ignore' }).outcome, 'ignore');
  });

  it('instance state change to shutting-down: deadline now', () => {
    assert.deepEqual(line(fixture('instance-state-change-terminated.json')), {
      outcome: 'act',
      kind: 'instance-state-change',
      eventId: '2f0c9a44-6b7d-4e21-a0c3-9d8e7f6a5b4c',
      instanceIds: [INSTANCE],
      deadline: NOW.toISOString(),
    });
  });

  it('health scheduled change: deadline is detail.startTime (RFC 1123 in the event)', () => {
    assert.deepEqual(line(fixture('health-scheduled-change.json')), {
      outcome: 'act',
      kind: 'scheduled-maintenance',
      eventId: 'a1b2c3d4-e5f6-7a8b-9c0d-e1f2a3b4c5d6',
      instanceIds: [INSTANCE],
      deadline: '2026-09-14T09:00:00.000Z',
    });
  });

  it('ASG terminate lifecycle action, through EventBridge and straight from the ASG: the same action', () => {
    const viaEventBridge = classify(fixture('asg-terminate-lifecycle-eventbridge.json'));
    const direct = classify(fixture('asg-terminate-lifecycle-direct.json'));
    for (const c of [viaEventBridge, direct]) {
      assert.deepEqual(JSON.parse(classificationLine(c)), {
        outcome: 'act',
        kind: 'asg-lifecycle-terminate',
        eventId: '87654321-4321-4321-4321-210987654321',
        instanceIds: [INSTANCE],
        deadline: '2026-09-01T12:05:00.000Z',
      });
      assert.deepEqual(acted(c).lifecycleAction, {
        autoScalingGroupName: 'spot-workers',
        lifecycleHookName: 'spot-rescue-drain',
        lifecycleActionToken: '87654321-4321-4321-4321-210987654321',
      });
    }
    assert.equal(
      acted(classify(fixture('asg-terminate-lifecycle-direct.json'), { asgHeartbeatTimeoutSeconds: 900 }))
        .deadline,
      '2026-09-01T12:15:00.000Z',
    );
  });

  it('capacity reservation interruption warning: the termination time the event names', () => {
    const body = fixture('capacity-reservation-interruption-warning.json');
    assert.deepEqual(line(body), {
      outcome: 'act',
      kind: 'capacity-reservation-interruption',
      eventId: 'b7d0e4a1-2c3f-4e5a-9b8c-7d6e5f4a3b2c',
      instanceIds: [INSTANCE],
      deadline: '2026-10-05T07:32:00.000Z',
    });
    const e = acted(classifyMessage(body, { now: new Date('2026-10-05T07:30:05Z'), config: CONFIG }));
    assert.equal(e.response, 'drain');
    assert.equal(e.eventTime, '2026-10-05T07:30:00.000Z');
    assert.equal(e.oddFields, undefined);
  });

  it('capacity reservation interruption without a termination time: event time + the documented 2 minutes', () => {
    const cr = JSON.parse(fixture('capacity-reservation-interruption-warning.json'));
    const body = json({ ...cr, time: '2026-09-01T12:00:00Z', detail: { 'instance-id': INSTANCE } });
    assert.equal(acted(classify(body)).deadline, '2026-09-01T12:02:00.000Z');
    const unusable = withDetail({ ...cr, time: '2026-09-01T12:00:00Z' }, { 'instance-termination-time': '' });
    assert.equal(acted(classify(unusable)).deadline, '2026-09-01T12:02:00.000Z');
  });

  it('ASG test notification: ignored', () => {
    assert.deepEqual(line(fixture('asg-test-notification.json')), {
      outcome: 'ignore',
      reason: 'auto scaling notification autoscaling:TEST_NOTIFICATION',
    });
  });

  it('CloudWatch alarm state change via EventBridge: instance from the InstanceId dimension, now + budget', () => {
    assert.deepEqual(line(fixture('cloudwatch-alarm-state-change.json'), { cloudwatchBudgetSeconds: 60 }), {
      outcome: 'act',
      kind: 'cloudwatch-alarm',
      eventId: 'c4c1c1c9-6542-e61b-6ef0-8c4d36933a92',
      instanceIds: [INSTANCE],
      deadline: '2026-09-01T12:01:30.000Z',
    });
  });

  it('classic CloudWatch alarm wrapped in SNS: unwrapped, id derived from alarm and state change time', () => {
    const body = fixture('cloudwatch-alarm-via-sns.json');
    const e = acted(classify(body));
    assert.equal(e.kind, 'cloudwatch-alarm');
    assert.deepEqual(e.instanceIds, [INSTANCE]);
    assert.equal(e.deadline, '2026-09-01T12:02:30.000Z');
    assert.equal(e.eventTime, '2026-09-01T12:00:00.000Z');
    assert.match(e.eventId, /^alarm-[0-9a-f]{32}$/);
    // A redelivery (same SNS message) dedupes; another state change does not.
    assert.equal(acted(classify(body)).eventId, e.eventId);
    const later = body.replace('2026-09-01T12:00:00.000+0000', '2026-09-01T13:00:00.000+0000');
    assert.notEqual(acted(classify(later)).eventId, e.eventId);
  });
});

const spot = JSON.parse(fixture('spot-interruption-warning.json'));
const json = (v: unknown) => JSON.stringify(v);
const withDetail = (base: Record<string, unknown>, detail: Record<string, unknown>) =>
  json({ ...base, detail: { ...(base['detail'] as object), ...detail } });
const sns = (message: string, type = 'Notification', topic = ALARM_TOPIC) =>
  json({ Type: type, MessageId: 'm-1', TopicArn: topic, Message: message });

describe('malformed messages are rejected with a reason', () => {
  const cases: [string, string, RegExp][] = [
    ['not JSON', '{"version":', /not a JSON object/],
    ['a JSON array', '[1,2]', /not a JSON object/],
    ['a JSON string', '"hello"', /not a JSON object/],
    ['empty', '', /not a JSON object/],
    ['an object of no known shape', json({ hello: 'world' }), /unrecognised message/],
    [
      'a bad instance id',
      withDetail(spot, { 'instance-id': 'i-XYZ' }),
      /instance-id: instance id must match/,
    ],
    [
      'an instance id too long',
      withDetail(spot, { 'instance-id': 'i-0123456789abcdef01' }),
      /instance id must match/,
    ],
    ['an unknown instance action', withDetail(spot, { 'instance-action': 'explode' }), /instance-action/],
    [
      'no detail',
      json({ ...spot, detail: undefined }),
      /malformed EC2 Spot Instance Interruption Warning: detail/,
    ],
    ['an event with neither source nor detail-type', json({ id: 'x', detail: {} }), /unrecognised message/],
    [
      'an event with empty source and detail-type',
      json({ ...spot, source: '', 'detail-type': ' ' }),
      /unrecognised message/,
    ],
    [
      'an SNS notification from a topic that is not configured',
      sns(
        fixture('spot-interruption-warning.json'),
        'Notification',
        'arn:aws:sns:us-east-1:999999999999:evil',
      ),
      /SNS topic arn:aws:sns:us-east-1:999999999999:evil is not one of the accepted topics/,
    ],
    [
      'an SNS subscription confirmation from a topic that is not configured',
      sns('{}', 'SubscriptionConfirmation', 'arn:aws:sns:us-east-1:999999999999:evil'),
      /not one of the accepted topics/,
    ],
    [
      'a capacity reservation warning with a bad instance id',
      withDetail(JSON.parse(fixture('capacity-reservation-interruption-warning.json')), {
        'instance-id': 'i-no',
      }),
      /malformed EC2 Capacity Reservation Instance Interruption Warning: detail.instance-id/,
    ],
    ['SNS with a non-JSON message', sns('not json'), /SNS message body is not JSON/],
    [
      'SNS with a malformed spot warning inside',
      sns(withDetail(spot, { 'instance-id': 'x' })),
      /instance id/,
    ],
    [
      'a health event affecting a non-instance',
      withDetail(JSON.parse(fixture('health-scheduled-change.json')), {
        affectedEntities: [{ entityValue: 'vol-0123456789abcdef0' }],
      }),
      /not an instance id: vol-/,
    ],
    [
      'a direct ASG message without an instance',
      json({ ...JSON.parse(fixture('asg-terminate-lifecycle-direct.json')), EC2InstanceId: undefined }),
      /malformed Auto Scaling lifecycle notification/,
    ],
  ];
  for (const [what, body, reason] of cases) {
    it(what, () => {
      const c = classify(body);
      assert.equal(c.outcome, 'reject', JSON.stringify(c));
      assert.match((c as { reason: string }).reason, reason);
    });
  }

  it('oversized', () => {
    const body = json({ ...spot, padding: 'x'.repeat(300 * 1024) });
    const c = classify(body);
    assert.equal(c.outcome, 'reject');
    assert.match((c as { reason: string }).reason, /bytes, over the limit of 262144/);
    assert.equal(classify(json(spot), { maxMessageBytes: 100 }).outcome, 'reject');
  });
});

describe('messages that are not ours are ignored', () => {
  const stateChange = JSON.parse(fixture('instance-state-change-terminated.json'));
  const alarm = JSON.parse(fixture('cloudwatch-alarm-state-change.json'));
  const cases: [string, string, RegExp][] = [
    ['an unknown source', json({ ...spot, source: 'aws.s3' }), /unknown event: source aws.s3/],
    ['an unknown EC2 detail-type', json({ ...spot, 'detail-type': 'EC2 AMI State Change' }), /detail-type/],
    ['a state change to running', withDetail(stateChange, { state: 'running' }), /running does not doom/],
    [
      'a launch lifecycle action',
      json({
        ...JSON.parse(fixture('asg-terminate-lifecycle-eventbridge.json')),
        'detail-type': 'EC2 Instance-launch Lifecycle Action',
      }),
      /launch/,
    ],
    [
      'a direct launching transition',
      json({
        ...JSON.parse(fixture('asg-terminate-lifecycle-direct.json')),
        LifecycleTransition: 'autoscaling:EC2_INSTANCE_LAUNCHING',
      }),
      /not a termination/,
    ],
    ['an alarm going back to OK', withDetail(alarm, { state: { value: 'OK' } }), /OK is not ALARM/],
    ['an alarm without an instance', withDetail(alarm, { configuration: { metrics: [] } }), /no InstanceId/],
    [
      'a classic alarm going to OK',
      fixture('cloudwatch-alarm-via-sns.json').replace(
        '\\"NewStateValue\\":\\"ALARM\\"',
        '\\"NewStateValue\\":\\"OK\\"',
      ),
      /OK is not ALARM/,
    ],
    [
      'a non-EC2 health event',
      withDetail(JSON.parse(fixture('health-scheduled-change.json')), { service: 'RDS' }),
      /RDS\/scheduledChange/,
    ],
    [
      'an EC2 health issue (not a scheduled change)',
      withDetail(JSON.parse(fixture('health-scheduled-change.json')), { eventTypeCategory: 'issue' }),
      /EC2\/issue/,
    ],
    [
      'an SNS subscription confirmation',
      sns('{}', 'SubscriptionConfirmation'),
      /SNS SubscriptionConfirmation/,
    ],
  ];
  for (const [what, body, reason] of cases) {
    it(what, () => {
      const c = classify(body);
      assert.equal(c.outcome, 'ignore', JSON.stringify(c));
      assert.match((c as { reason: string }).reason, reason);
    });
  }
});

describe('several instances in one event', () => {
  it('a health event acts on every affected instance, once each', () => {
    const health = JSON.parse(fixture('health-scheduled-change.json'));
    const body = withDetail(health, {
      affectedEntities: [
        { entityValue: 'i-0000000000000000a' },
        { entityValue: 'i-0000000000000000b' },
        { entityValue: 'i-0000000000000000a' },
      ],
    });
    assert.deepEqual(acted(classify(body)).instanceIds, ['i-0000000000000000a', 'i-0000000000000000b']);
  });

  it('any message may come in an SNS envelope', () => {
    assert.deepEqual(
      classify(sns(fixture('spot-interruption-warning.json'))),
      classify(fixture('spot-interruption-warning.json')),
    );
  });
});

describe('lenient where it saves pods', () => {
  for (const time of ['', 'yesterday', null, 17, '1970-01-01T00:00:00Z']) {
    it(`a spot warning whose time is ${JSON.stringify(time)}: acted on from the receipt time, and flagged`, () => {
      const e = acted(classify(json({ ...spot, time })));
      assert.equal(e.eventTime, NOW.toISOString());
      assert.equal(e.deadline, '2026-09-01T12:02:30.000Z');
      assert.deepEqual(e.oddFields, ['time']);
    });
  }

  it('a spot warning without a time at all: acted on', () => {
    assert.deepEqual(acted(classify(json({ ...spot, time: undefined }))).oddFields, ['time']);
  });

  it('state names in another case', () => {
    const stateChange = JSON.parse(fixture('instance-state-change-terminated.json'));
    assert.equal(classify(withDetail(stateChange, { state: 'Shutting-Down' })).outcome, 'act');
    assert.equal(classify(withDetail(stateChange, { state: 'RUNNING' })).outcome, 'ignore');
    assert.equal(classify(withDetail(spot, { 'instance-action': 'Terminate' })).outcome, 'act');
    const alarm = JSON.parse(fixture('cloudwatch-alarm-state-change.json'));
    assert.equal(classify(withDetail(alarm, { state: { value: 'alarm' } })).outcome, 'act');
    const direct = JSON.parse(fixture('asg-terminate-lifecycle-direct.json'));
    const lower = json({ ...direct, LifecycleTransition: 'autoscaling:ec2_instance_terminating' });
    assert.equal(classify(lower).outcome, 'act');
  });

  it('a usable time is not flagged', () => {
    assert.equal(acted(classify(fixture('spot-interruption-warning.json'))).oddFields, undefined);
  });
});

const otherTool = (name: string) => fixture(`from-other-tools/${name}`);

describe('events as other tools write them in their test suites', () => {
  it("aws-node-termination-handler's spot warning with an empty time: acted on from the receipt time", () => {
    const e = acted(classify(otherTool('nth-spot-itn-empty-time.json')));
    assert.deepEqual(
      { kind: e.kind, ids: e.instanceIds, deadline: e.deadline, odd: e.oddFields },
      {
        kind: 'spot-interruption',
        ids: ['i-0b662ef9931388ba0'],
        deadline: '2026-09-01T12:02:30.000Z',
        odd: ['time'],
      },
    );
  });

  it("aws-node-termination-handler's spot warning dated the Unix epoch: the time is impossible, so receipt time", () => {
    const e = acted(classify(otherTool('nth-spot-itn-epoch.json')));
    assert.equal(e.deadline, '2026-09-01T12:02:30.000Z');
    assert.deepEqual(e.oddFields, ['time']);
  });

  it("aws-node-termination-handler's ASG lifecycle actions, through EventBridge and direct", () => {
    const eb = acted(
      classifyMessage(otherTool('nth-asg-lifecycle-eventbridge.json'), {
        now: new Date('2020-07-01T22:20:00Z'),
        config: CONFIG,
      }),
    );
    assert.equal(eb.kind, 'asg-lifecycle-terminate');
    assert.equal(eb.eventId, '0befcbdb-6ecd-498a-9ff7-ae9b54447cd6');
    assert.deepEqual(eb.instanceIds, ['i-0633ac2b0d9769723']);
    assert.equal(eb.deadline, '2020-07-01T22:24:58.000Z');
    const direct = acted(
      classifyMessage(otherTool('nth-asg-lifecycle-direct.json'), {
        now: new Date('2022-01-31T23:08:00Z'),
        config: CONFIG,
      }),
    );
    assert.deepEqual(direct.instanceIds, ['i-040107f6ba000e5ee']);
    assert.equal(direct.lifecycleAction?.lifecycleActionToken, 'b4dd0f5b-0ef2-4479-9dad-6c55f027000e');
  });

  it("aws-node-termination-handler's test notification through EventBridge: ignored, not malformed", () => {
    assert.deepEqual(line(otherTool('nth-asg-test-notification-eventbridge.json')), {
      outcome: 'ignore',
      reason: 'auto scaling notification autoscaling:TEST_NOTIFICATION',
    });
  });

  it("aws-node-termination-handler's rebalance recommendation", () => {
    assert.equal(acted(classify(otherTool('nth-rebalance-recommendation.json'))).response, 'cordon');
  });

  it("aws-node-termination-handler's empty event (every field zero): malformed, to the DLQ", () => {
    const c = classify(otherTool('nth-empty-event.json'));
    assert.equal(c.outcome, 'reject');
  });

  it("Karpenter's events with nanosecond times and a local offset", () => {
    const now = new Date('2026-09-01T12:00:10Z');
    const at = (f: string) => acted(classifyMessage(otherTool(f), { now, config: CONFIG }));
    const spotE = at('karpenter-spot-interruption.json');
    assert.equal(spotE.eventTime, '2026-09-01T12:00:00.123Z');
    assert.equal(spotE.deadline, '2026-09-01T12:02:00.123Z');
    assert.equal(at('karpenter-state-change-stopping.json').deadline, now.toISOString());
    const cr = at('karpenter-capacity-reservation-interruption.json');
    assert.equal(cr.kind, 'capacity-reservation-interruption');
    assert.equal(cr.deadline, '2026-09-01T12:02:00.123Z');
  });

  it("Karpenter's health event, which has no start time: the change may be imminent, so the deadline is now", () => {
    const now = new Date('2026-09-01T12:00:10Z');
    const e = acted(classifyMessage(otherTool('karpenter-scheduled-change.json'), { now, config: CONFIG }));
    assert.equal(e.kind, 'scheduled-maintenance');
    assert.equal(e.deadline, now.toISOString());
    assert.deepEqual(e.oddFields, ['startTime']);
  });
});
