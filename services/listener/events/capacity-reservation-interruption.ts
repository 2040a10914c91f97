import { z } from 'zod';
import {
  anyCase,
  eventBridgeEvent,
  instanceId,
  isEventBridge,
  lenientTime,
  plusSeconds,
  timeOrReceipt,
} from './fields.js';
import { act, eventSource } from './source.js';

const DETAIL_TYPE = 'EC2 Capacity Reservation Instance Interruption Warning';
/**
 * The owner of an interruptible Capacity Reservation reclaims it: AWS documents
 * the warning as coming 2 minutes before the instances are terminated, the
 * same notice as a Spot interruption.
 */
const WARNING_SECONDS = 120;

/**
 * Instances running in an interruptible Capacity Reservation. The event names
 * the termination time itself; when it is missing or unusable (Karpenter's
 * model of the event has no such field) the documented lead time applies.
 */
export const capacityReservationInterruption = eventSource({
  name: DETAIL_TYPE,
  matches: (m) => isEventBridge(m, 'aws.ec2', [DETAIL_TYPE]),
  schema: eventBridgeEvent(
    z.literal(DETAIL_TYPE),
    z.object({
      'instance-id': instanceId,
      'instance-action': anyCase(['terminate', 'stop', 'hibernate']).optional(),
      'instance-termination-time': lenientTime.optional(),
      azId: z.string().optional(),
    }),
  ),
  decide: (e, { now }) => {
    const { time, oddFields } = timeOrReceipt(e.time, now);
    const terminationTime = e.detail['instance-termination-time'] ?? null;
    return act(
      {
        kind: 'capacity-reservation-interruption',
        eventId: e.id,
        instanceIds: [e.detail['instance-id']],
        deadline: terminationTime ? terminationTime.toISOString() : plusSeconds(time, WARNING_SECONDS),
        eventTime: time.toISOString(),
        response: 'drain',
      },
      oddFields,
    );
  },
});
