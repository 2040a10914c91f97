import { z } from 'zod';

/** The envelope SNS wraps a message in when it delivers to SQS without raw message delivery. */
const snsNotificationSchema = z.object({
  Type: z.literal('Notification'),
  MessageId: z.string().min(1),
  TopicArn: z.string().min(1),
  Message: z.string(),
});

export type Unwrapped =
  | { ok: true; message: Record<string, unknown>; snsMessageId?: string }
  | { ok: false; outcome: 'ignore' | 'reject'; reason: string };

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * An SNS envelope is recognised by its Type and TopicArn; anything else passes
 * through untouched. Only the topics the install subscribed the queue to may
 * speak: any other topic's message (a CloudWatch alarm that would drain a node
 * included) is rejected, whatever it says.
 */
export function unwrapSns(msg: Record<string, unknown>, acceptedTopicArns: readonly string[]): Unwrapped {
  if (typeof msg['Type'] !== 'string' || typeof msg['TopicArn'] !== 'string')
    return { ok: true, message: msg };
  if (!acceptedTopicArns.includes(msg['TopicArn'])) {
    return {
      ok: false,
      outcome: 'reject',
      reason: `SNS topic ${msg['TopicArn'].slice(0, 200)} is not one of the accepted topics (SPOT_RESCUE_SNS_TOPIC_ARNS)`,
    };
  }
  if (msg['Type'] !== 'Notification') {
    return { ok: false, outcome: 'ignore', reason: `SNS ${msg['Type']} message` };
  }
  const env = snsNotificationSchema.safeParse(msg);
  if (!env.success) return { ok: false, outcome: 'reject', reason: 'malformed SNS envelope' };
  let inner: unknown;
  try {
    inner = JSON.parse(env.data.Message);
  } catch {
    return { ok: false, outcome: 'reject', reason: 'SNS message body is not JSON' };
  }
  if (!isObject(inner))
    return { ok: false, outcome: 'reject', reason: 'SNS message body is not a JSON object' };
  return { ok: true, message: inner, snsMessageId: env.data.MessageId };
}

export function parseJsonObject(raw: string): { ok: true; value: Record<string, unknown> } | { ok: false } {
  try {
    const v: unknown = JSON.parse(raw);
    return isObject(v) ? { ok: true, value: v } : { ok: false };
  } catch {
    return { ok: false };
  }
}
