import { z } from 'zod';

/** The kinds of event that can doom a node, as the listener classifies them. */
export const EVENT_KINDS = [
  'spot-interruption',
  'rebalance-recommendation',
  'instance-state-change',
  'scheduled-maintenance',
  'asg-lifecycle-terminate',
  'cloudwatch-alarm',
  'capacity-reservation-interruption',
] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

export const INSTANCE_ID = /^i-[0-9a-f]{8,17}$/;
export const instanceIdSchema = z.string().regex(INSTANCE_ID, 'instance id must match ^i-[0-9a-f]{8,17}$');

/** An ASG lifecycle action to complete once the node is handled. */
export const lifecycleActionSchema = z.object({
  autoScalingGroupName: z.string().min(1),
  lifecycleHookName: z.string().min(1),
  lifecycleActionToken: z.string().min(1).optional(),
  instanceId: instanceIdSchema,
});
export type LifecycleAction = z.infer<typeof lifecycleActionSchema>;

/** What every job carries about the event that caused it. */
export const eventRefSchema = z.object({
  id: z.string().min(1),
  kind: z.enum(EVENT_KINDS),
  /** ISO 8601; null when the kind has no deadline (rebalance). */
  deadline: z.string().datetime().nullable(),
  /** When the listener received the message (ISO 8601). */
  receivedAt: z.string().datetime(),
  /** When AWS says the event happened (ISO 8601). */
  eventTime: z.string().datetime(),
  lifecycleAction: lifecycleActionSchema.optional(),
});
export type EventRef = z.infer<typeof eventRefSchema>;
