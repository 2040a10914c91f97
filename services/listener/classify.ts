import type { z } from 'zod';
import { asgLifecycleDirect, asgLifecycleEventBridge } from './events/asg-lifecycle.js';
import { capacityReservationInterruption } from './events/capacity-reservation-interruption.js';
import { cloudwatchAlarmClassic, cloudwatchAlarmEventBridge } from './events/cloudwatch-alarm.js';
import { instanceStateChange } from './events/instance-state-change.js';
import { rebalanceRecommendation } from './events/rebalance-recommendation.js';
import { scheduledMaintenance } from './events/scheduled-maintenance.js';
import { parseJsonObject, unwrapSns } from './events/sns-envelope.js';
import type { Classification, DecideContext, EventSource } from './events/source.js';
import { ignore, reject } from './events/source.js';
import { spotInterruption } from './events/spot-interruption.js';

/** Every message shape the listener understands, one file each under events/. */
export const EVENT_SOURCES: readonly EventSource[] = [
  spotInterruption,
  capacityReservationInterruption,
  rebalanceRecommendation,
  instanceStateChange,
  scheduledMaintenance,
  asgLifecycleEventBridge,
  asgLifecycleDirect,
  cloudwatchAlarmEventBridge,
  cloudwatchAlarmClassic,
];

const MAX_REASON = 300;

/**
 * An SQS message body -> act / ignore / reject. Pure: the listener and the
 * `classify` CLI both call exactly this.
 */
export function classifyMessage(body: string, ctx: DecideContext): Classification {
  const bytes = Buffer.byteLength(body, 'utf8');
  if (bytes > ctx.config.maxMessageBytes) {
    return reject(`message is ${bytes} bytes, over the limit of ${ctx.config.maxMessageBytes}`);
  }
  const parsed = parseJsonObject(body);
  if (!parsed.ok) return reject('message body is not a JSON object');
  const unwrapped = unwrapSns(parsed.value, ctx.config.snsTopicArns);
  if (!unwrapped.ok) return { outcome: unwrapped.outcome, reason: unwrapped.reason };
  const msg = unwrapped.message;

  const source = EVENT_SOURCES.find((s) => s.matches(msg));
  if (!source) {
    // Only an event that says what it is may be someone else's business; one that names
    // neither its source nor its detail-type is broken, and goes to the DLQ to be looked at.
    if (nonEmpty(msg['source']) && nonEmpty(msg['detail-type'])) {
      return ignore(truncate(`unknown event: source ${msg['source']}, detail-type ${msg['detail-type']}`));
    }
    return reject('unrecognised message: not an EventBridge event, SNS notification or Auto Scaling message');
  }
  const event = source.schema.safeParse(msg);
  if (!event.success) return reject(truncate(`malformed ${source.name}: ${describeIssues(event.error)}`));
  return source.decide(event.data, ctx);
}

function describeIssues(err: z.ZodError): string {
  return err.issues
    .slice(0, 5)
    .map((i) => (i.path.length > 0 ? `${i.path.join('.')}: ${i.message}` : i.message))
    .join('; ');
}

const nonEmpty = (v: unknown): v is string => typeof v === 'string' && v.trim().length > 0;

const truncate = (s: string) => (s.length > MAX_REASON ? `${s.slice(0, MAX_REASON - 3)}...` : s);
