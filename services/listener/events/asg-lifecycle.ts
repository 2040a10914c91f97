import { z } from 'zod';
import {
  eventBridgeEvent,
  instanceId,
  isEventBridge,
  lenientTime,
  plusSeconds,
  timeOrReceipt,
} from './fields.js';
import type { Classification, DecideContext } from './source.js';
import { act, eventSource, ignore } from './source.js';

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
  time: Date | null;
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
function decideLifecycle(l: Lifecycle, { config, now }: DecideContext): Classification {
  if (l.LifecycleTransition.toLowerCase() !== TERMINATING.toLowerCase()) {
    return ignore(`lifecycle transition ${l.LifecycleTransition} is not a termination`);
  }
  const { time, oddFields } = timeOrReceipt(l.time, now);
  return act(
    {
      kind: 'asg-lifecycle-terminate',
      eventId: l.LifecycleActionToken ?? l.messageId,
      instanceIds: [l.EC2InstanceId],
      deadline: plusSeconds(time, config.asgHeartbeatTimeoutSeconds),
      eventTime: time.toISOString(),
      response: 'drain',
      lifecycleAction: {
        autoScalingGroupName: l.AutoScalingGroupName,
        lifecycleHookName: l.LifecycleHookName,
        ...(l.LifecycleActionToken ? { lifecycleActionToken: l.LifecycleActionToken } : {}),
      },
    },
    oddFields,
  );
}

/** The test notification a hook sends when it is created, as EventBridge carries it. */
const testNotification = z.object({ Event: z.string().min(1), LifecycleTransition: z.string().optional() });

/** Through EventBridge (source aws.autoscaling); launch actions are not ours. */
export const asgLifecycleEventBridge = eventSource({
  name: TERMINATE,
  matches: (m) => isEventBridge(m, 'aws.autoscaling', [TERMINATE, LAUNCH]),
  schema: eventBridgeEvent(
    z.enum([TERMINATE, LAUNCH]),
    z.union([z.object(lifecycleFields), testNotification]),
  ),
  decide: (e, ctx) => {
    if (e['detail-type'] === LAUNCH) return ignore('launch lifecycle action');
    if ('Event' in e.detail) return ignore(`auto scaling notification ${e.detail.Event}`);
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
      Time: lenientTime.optional(),
      AutoScalingGroupName: z.string().optional(),
    }),
    z.object({ ...lifecycleFields, RequestId: z.string().min(1), Time: lenientTime }),
  ]),
  decide: (m, ctx) => {
    if ('Event' in m) return ignore(`auto scaling notification ${m.Event}`);
    return decideLifecycle({ ...m, messageId: m.RequestId, time: m.Time }, ctx);
  },
});
