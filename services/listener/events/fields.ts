import { z } from 'zod';
import { instanceIdSchema } from '../../common/events.js';

/** A timestamp in any of the formats AWS uses (ISO 8601, "+0000" offsets, RFC 1123), normalised to a Date. */
export const awsTime = z
  .string()
  .refine((s) => !Number.isNaN(Date.parse(s)), 'must be a timestamp')
  .transform((s) => new Date(Date.parse(s)));

export const instanceId = instanceIdSchema;

/**
 * The envelope's `time`, which the rescue can do without: a warning is often
 * the only notice a node gets, so an empty or unparseable time becomes null
 * and the event is acted on from the moment it was received (see `timeOrReceipt`).
 */
export const lenientTime = z
  .unknown()
  .optional()
  .transform((v) => (typeof v === 'string' && !Number.isNaN(Date.parse(v)) ? new Date(Date.parse(v)) : null));

/** SQS keeps a message at most 14 days: an event time older than that cannot be its own. */
const OLDEST_PLAUSIBLE_MS = 14 * 86_400_000;
/** Clocks disagree by seconds, not hours. */
const LATEST_PLAUSIBLE_MS = 3_600_000;

/**
 * When the event happened, or when it was received if AWS's time is unusable
 * (missing, unparseable, or impossible, like the Unix epoch); says which.
 */
export function timeOrReceipt(time: Date | null, now: Date): { time: Date; oddFields: string[] } {
  const age = time ? now.getTime() - time.getTime() : Number.NaN;
  return time && age <= OLDEST_PLAUSIBLE_MS && age >= -LATEST_PLAUSIBLE_MS
    ? { time, oddFields: [] }
    : { time: now, oddFields: ['time'] };
}

/** An enum whose values AWS spells in lower case, accepted in any case. */
export function anyCase<const T extends readonly [string, ...string[]]>(values: T) {
  return z
    .string()
    .transform((s) => s.toLowerCase())
    .pipe(z.enum(values));
}

/** The EventBridge envelope every `aws.*` event shares. */
export function eventBridgeEvent<D extends z.ZodType>(detailType: z.ZodType<string>, detail: D) {
  return z.object({
    version: z.string().optional(),
    id: z.string().min(1).max(256),
    'detail-type': detailType,
    source: z.string(),
    time: lenientTime,
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
