import { z } from 'zod';
import { eventBridgeEvent, instanceId, isEventBridge, timeOrReceipt } from './fields.js';
import { act, eventSource, ignore } from './source.js';

const DETAIL_TYPE = 'EC2 Instance State-change Notification';
const DOOMED_STATES = new Set(['stopping', 'stopped', 'shutting-down', 'terminated']);

/** The instance is already going away: the deadline is now. */
export const instanceStateChange = eventSource({
  name: DETAIL_TYPE,
  matches: (m) => isEventBridge(m, 'aws.ec2', [DETAIL_TYPE]),
  schema: eventBridgeEvent(
    z.literal(DETAIL_TYPE),
    z.object({
      'instance-id': instanceId,
      state: z
        .string()
        .min(1)
        .transform((s) => s.toLowerCase()),
    }),
  ),
  decide: (e, { now }) => {
    const state = e.detail.state;
    if (!DOOMED_STATES.has(state)) return ignore(`instance state ${state} does not doom the node`);
    const { time, oddFields } = timeOrReceipt(e.time, now);
    return act(
      {
        kind: 'instance-state-change',
        eventId: e.id,
        instanceIds: [e.detail['instance-id']],
        deadline: now.toISOString(),
        eventTime: time.toISOString(),
        response: 'drain',
      },
      oddFields,
    );
  },
});
