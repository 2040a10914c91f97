import { randomUUID } from 'node:crypto';

/**
 * Real-shaped interruption events, as EventBridge (or an Auto Scaling group,
 * or SNS) puts them on the queue, for the demo, the benchmarks and
 * scripts/simulate-interruption. Shapes follow test/fixtures/events/.
 */

export const SIMULATED_KINDS = [
  'spot-interruption',
  'rebalance-recommendation',
  'instance-state-change',
  'scheduled-maintenance',
  'asg-lifecycle-terminate',
  'asg-lifecycle-terminate-direct',
  'cloudwatch-alarm',
  'cloudwatch-alarm-sns',
] as const;
export type SimulatedKind = (typeof SIMULATED_KINDS)[number];

export interface SimulatedEventInput {
  instanceId: string;
  region?: string;
  account?: string;
  /** When the event happened; defaults to now. */
  time?: Date;
  /** spot-interruption: terminate | stop | hibernate. */
  action?: string;
  /** instance-state-change: stopping | stopped | shutting-down | terminated. */
  state?: string;
  asgName?: string;
  hookName?: string;
}

const iso = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

function envelope(
  source: string,
  detailType: string,
  input: SimulatedEventInput,
  resources: string[],
  detail: object,
) {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': detailType,
    source,
    account: input.account ?? '111122223333',
    time: iso(input.time ?? new Date()),
    region: input.region ?? 'us-east-1',
    resources,
    detail,
  };
}

export function buildEvent(kind: SimulatedKind, input: SimulatedEventInput): object {
  const region = input.region ?? 'us-east-1';
  const account = input.account ?? '111122223333';
  const time = input.time ?? new Date();
  const instanceArn = `arn:aws:ec2:${region}:${account}:instance/${input.instanceId}`;
  const asg = input.asgName ?? 'spot-workers';
  const hook = input.hookName ?? 'spot-rescue-drain';
  const token = randomUUID();
  switch (kind) {
    case 'spot-interruption':
      return envelope('aws.ec2', 'EC2 Spot Instance Interruption Warning', input, [instanceArn], {
        'instance-id': input.instanceId,
        'instance-action': input.action ?? 'terminate',
      });
    case 'rebalance-recommendation':
      return envelope('aws.ec2', 'EC2 Instance Rebalance Recommendation', input, [instanceArn], {
        'instance-id': input.instanceId,
      });
    case 'instance-state-change':
      return envelope('aws.ec2', 'EC2 Instance State-change Notification', input, [instanceArn], {
        'instance-id': input.instanceId,
        state: input.state ?? 'stopping',
      });
    case 'scheduled-maintenance': {
      const start = new Date(time.getTime() + 15 * 60_000);
      return envelope('aws.health', 'AWS Health Event', input, [input.instanceId], {
        eventArn: `arn:aws:health:${region}::event/EC2/AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED/${randomUUID()}`,
        service: 'EC2',
        eventTypeCode: 'AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED',
        eventTypeCategory: 'scheduledChange',
        startTime: start.toUTCString(),
        endTime: new Date(start.getTime() + 2 * 3600_000).toUTCString(),
        eventRegion: region,
        eventDescription: [
          { language: 'en_US', latestDescription: 'The instance is scheduled for retirement.' },
        ],
        affectedEntities: [{ entityValue: input.instanceId, tags: {} }],
      });
    }
    case 'asg-lifecycle-terminate':
      return envelope(
        'aws.autoscaling',
        'EC2 Instance-terminate Lifecycle Action',
        input,
        [
          `arn:aws:autoscaling:${region}:${account}:autoScalingGroup:${randomUUID()}:autoScalingGroupName/${asg}`,
        ],
        {
          LifecycleActionToken: token,
          AutoScalingGroupName: asg,
          LifecycleHookName: hook,
          EC2InstanceId: input.instanceId,
          LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
          NotificationMetadata: '',
          Origin: 'AutoScalingGroup',
          Destination: 'EC2',
        },
      );
    case 'asg-lifecycle-terminate-direct':
      return {
        Origin: 'AutoScalingGroup',
        LifecycleHookName: hook,
        Destination: 'EC2',
        AccountId: account,
        RequestId: randomUUID(),
        LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
        AutoScalingGroupName: asg,
        Service: 'AWS Auto Scaling',
        Time: time.toISOString(),
        EC2InstanceId: input.instanceId,
        LifecycleActionToken: token,
      };
    case 'cloudwatch-alarm':
      return envelope(
        'aws.cloudwatch',
        'CloudWatch Alarm State Change',
        input,
        [`arn:aws:cloudwatch:${region}:${account}:alarm:node-${input.instanceId}-status-check`],
        {
          alarmName: `node-${input.instanceId}-status-check`,
          state: { value: 'ALARM', reason: 'Threshold Crossed (simulated)', timestamp: time.toISOString() },
          previousState: { value: 'OK', reason: 'Threshold Crossed', timestamp: time.toISOString() },
          configuration: {
            metrics: [
              {
                id: 'm1',
                metricStat: {
                  metric: {
                    namespace: 'AWS/EC2',
                    name: 'StatusCheckFailed',
                    dimensions: { InstanceId: input.instanceId },
                  },
                  period: 60,
                  stat: 'Maximum',
                },
                returnData: true,
              },
            ],
          },
        },
      );
    case 'cloudwatch-alarm-sns':
      return snsEnvelope(
        {
          AlarmName: `node-${input.instanceId}-status-check`,
          AWSAccountId: account,
          NewStateValue: 'ALARM',
          NewStateReason: 'Threshold Crossed (simulated)',
          StateChangeTime: time.toISOString().replace('Z', '+0000'),
          Region: 'US East (N. Virginia)',
          AlarmArn: `arn:aws:cloudwatch:${region}:${account}:alarm:node-${input.instanceId}-status-check`,
          OldStateValue: 'OK',
          Trigger: {
            MetricName: 'StatusCheckFailed',
            Namespace: 'AWS/EC2',
            Statistic: 'MAXIMUM',
            Dimensions: [{ name: 'InstanceId', value: input.instanceId }],
            Period: 60,
            EvaluationPeriods: 2,
            ComparisonOperator: 'GreaterThanThreshold',
            Threshold: 0,
          },
        },
        simulatedAlarmTopicArn(region, account),
        time,
      );
  }
}

/** The SNS topic simulated alarms come through: a listener must accept it (SPOT_RESCUE_SNS_TOPIC_ARNS). */
export function simulatedAlarmTopicArn(region = 'us-east-1', account = '111122223333'): string {
  return `arn:aws:sns:${region}:${account}:spot-rescue-alarms`;
}

/** Wraps a message the way SNS delivers it to an SQS subscription (raw delivery off). */
export function snsEnvelope(message: object, topicArn: string, time = new Date()): object {
  return {
    Type: 'Notification',
    MessageId: randomUUID(),
    TopicArn: topicArn,
    Subject: 'ALARM: simulated',
    Message: JSON.stringify(message),
    Timestamp: time.toISOString(),
    SignatureVersion: '1',
    Signature: 'c2ltdWxhdGVk',
    SigningCertURL: `https://sns.${topicArn.split(':')[3]}.amazonaws.com/SimpleNotificationService.pem`,
    UnsubscribeURL: `https://sns.${topicArn.split(':')[3]}.amazonaws.com/?Action=Unsubscribe`,
  };
}
