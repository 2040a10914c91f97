import { z } from 'zod';
import {
  anyCase,
  eventBridgeEvent,
  instanceId,
  isEventBridge,
  plusSeconds,
  timeOrReceipt,
} from './fields.js';
import { act, eventSource } from './source.js';

const DETAIL_TYPE = 'EC2 Spot Instance Interruption Warning';
/** AWS reclaims the instance two minutes after the warning's own timestamp. */
const WARNING_SECONDS = 120;

export const spotInterruption = eventSource({
  name: DETAIL_TYPE,
  matches: (m) => isEventBridge(m, 'aws.ec2', [DETAIL_TYPE]),
  schema: eventBridgeEvent(
    z.literal(DETAIL_TYPE),
    z.object({
      'instance-id': instanceId,
      'instance-action': anyCase(['terminate', 'stop', 'hibernate']),
    }),
  ),
  decide: (e, { now }) => {
    const { time, oddFields } = timeOrReceipt(e.time, now);
    return act(
      {
        kind: 'spot-interruption',
        eventId: e.id,
        instanceIds: [e.detail['instance-id']],
        deadline: plusSeconds(time, WARNING_SECONDS),
        eventTime: time.toISOString(),
        response: 'drain',
      },
      oddFields,
    );
  },
});
