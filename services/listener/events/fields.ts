import { z } from 'zod';
import { instanceIdSchema } from '../../common/events.js';

/** A timestamp in any of the formats AWS uses (ISO 8601, "+0000" offsets, RFC 1123), normalised to a Date. */
export const awsTime = z
  .string()
  .refine((s) => !Number.isNaN(Date.parse(s)), 'must be a timestamp')
  .transform((s) => new Date(Date.parse(s)));

export const instanceId = instanceIdSchema;

/** The EventBridge envelope every `aws.*` event shares. */
export function eventBridgeEvent<D extends z.ZodType>(detailType: z.ZodType<string>, detail: D) {
  return z.object({
    version: z.string().optional(),
    id: z.string().min(1).max(256),
    'detail-type': detailType,
    source: z.string(),
    time: awsTime,
    region: z.string().optional(),
    resources: z.array(z.string()).optional(),
    detail,
  });
}

/** Cheap discriminator: is this an EventBridge event with this source and one of these detail-types? */
export function isEventBridge(msg: Record<string, unknown>, source: string, detailTypes: readonly string[]) {
  return msg['source'] === source && detailTypes.includes(msg['detail-type'] as string);
}

export const plusSeconds = (d: Date, s: number) => new Date(d.getTime() + s * 1000).toISOString();
