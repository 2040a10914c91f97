import { z } from 'zod';
import type { Classification, DecideContext } from '../classification.js';
import { ignore } from '../classification.js';
import { awsTime, eventBridgeEvent, instanceId, isEventBridge, plusSeconds } from './fields.js';
import { eventSource } from './source.js';

const TERMINATE = 'EC2 Instance-terminate Lifecycle Action';
const LAUNCH = 'EC2 Instance-launch Lifecycle Action';
const TERMINATING = 'autoscaling:EC2_INSTANCE_TERMINATING';

const lifecycleFields = {
  AutoScalingGroupName: z.string().min(1),
  LifecycleHookName: z.string().min(1),
  LifecycleActionToken: z.string().min(1).optional(),
  EC2InstanceId: instanceId,
  LifecycleTransition: z.string().min(1),
};

interface Lifecycle {
  /** Event id of the message; used only when the action has no token. */
  messageId: string;
  time: Date;
  AutoScalingGroupName: string;
  LifecycleHookName: string;
  LifecycleActionToken?: string | undefined;
  EC2InstanceId: string;
  LifecycleTransition: string;
}

/**
 * The lifecycle action token names the action itself, so the EventBridge
 * event and the ASG's direct message for the same termination (when both
 * routes are configured) dedupe to one.
 */
function decideLifecycle(l: Lifecycle, { config }: DecideContext): Classification {
  if (l.LifecycleTransition !== TERMINATING) {
    return ignore(`lifecycle transition ${l.LifecycleTransition} is not a termination`);
  }
  return {
    outcome: 'act',
    event: {
      kind: 'asg-lifecycle-terminate',
      eventId: l.LifecycleActionToken ?? l.messageId,
      instanceIds: [l.EC2InstanceId],
      deadline: plusSeconds(l.time, config.asgHeartbeatTimeoutSeconds),
      eventTime: l.time.toISOString(),
      response: 'drain',
      lifecycleAction: {
        autoScalingGroupName: l.AutoScalingGroupName,
        lifecycleHookName: l.LifecycleHookName,
        ...(l.LifecycleActionToken ? { lifecycleActionToken: l.LifecycleActionToken } : {}),
      },
    },
  };
}

/** Through EventBridge (source aws.autoscaling); launch actions are not ours. */
export const asgLifecycleEventBridge = eventSource({
  name: TERMINATE,
  matches: (m) => isEventBridge(m, 'aws.autoscaling', [TERMINATE, LAUNCH]),
  schema: eventBridgeEvent(z.enum([TERMINATE, LAUNCH]), z.object(lifecycleFields)),
  decide: (e, ctx) => {
    if (e['detail-type'] === LAUNCH) return ignore('launch lifecycle action');
    return decideLifecycle({ ...e.detail, messageId: e.id, time: e.time }, ctx);
  },
});

/**
 * The flat message an Auto Scaling group sends straight to its SQS
 * notification target, and the test notification it sends when the hook is
 * created.
 */
export const asgLifecycleDirect = eventSource({
  name: 'Auto Scaling lifecycle notification',
  matches: (m) =>
    m['Service'] === 'AWS Auto Scaling' ||
    (typeof m['LifecycleTransition'] === 'string' && !('detail-type' in m)),
  schema: z.union([
    z.object({
      Event: z.string().min(1),
      Time: awsTime.optional(),
      AutoScalingGroupName: z.string().optional(),
    }),
    z.object({ ...lifecycleFields, RequestId: z.string().min(1), Time: awsTime }),
  ]),
  decide: (m, ctx) => {
    if ('Event' in m) return ignore(`auto scaling notification ${m.Event}`);
    return decideLifecycle({ ...m, messageId: m.RequestId, time: m.Time }, ctx);
  },
});
