import { z } from 'zod';
import { eventBridgeEvent, instanceId, isEventBridge, lenientTime, timeOrReceipt } from './fields.js';
import { act, eventSource, ignore } from './source.js';

const DETAIL_TYPE = 'AWS Health Event';

/**
 * Scheduled EC2 maintenance (retirement, reboot, ...): every affected
 * instance must be off by the change's start time. Other Health events are
 * none of our business.
 */
export const scheduledMaintenance = eventSource({
  name: DETAIL_TYPE,
  matches: (m) => isEventBridge(m, 'aws.health', [DETAIL_TYPE]),
  schema: eventBridgeEvent(
    z.literal(DETAIL_TYPE),
    z.object({
      service: z.string(),
      eventTypeCategory: z.string(),
      eventTypeCode: z.string().optional(),
      startTime: lenientTime.optional(),
      affectedEntities: z.array(z.object({ entityValue: z.string() })).optional(),
    }),
  ),
  decide: (e, { now }) => {
    const d = e.detail;
    if (d.service !== 'EC2' || d.eventTypeCategory !== 'scheduledChange') {
      return ignore(`health event ${d.service}/${d.eventTypeCategory} is not EC2 scheduled maintenance`);
    }
    const entities = d.affectedEntities ?? [];
    if (entities.length === 0) return ignore('EC2 scheduled change with no affected entities');
    const ids = [...new Set(entities.map((x) => x.entityValue))];
    const bad = ids.filter((id) => !instanceId.safeParse(id).success);
    if (bad.length > 0) {
      return { outcome: 'reject', reason: `affected entity is not an instance id: ${bad.join(', ')}` };
    }
    const { time, oddFields } = timeOrReceipt(e.time, now);
    // Without a usable start time the change may be imminent: act as if it starts now.
    const start = d.startTime ?? null;
    return act(
      {
        kind: 'scheduled-maintenance',
        eventId: e.id,
        instanceIds: ids,
        deadline: (start ?? now).toISOString(),
        eventTime: time.toISOString(),
        response: 'drain',
      },
      start ? oddFields : [...oddFields, 'startTime'],
    );
  },
});
