import type { z } from 'zod';
import type { EventKind, LifecycleAction } from '../../common/events.js';
import type { ClassifyConfig } from '../settings.js';

/**
 * One shape of message the listener understands: `matches` picks it out by
 * its discriminating fields only, `schema` parses it (a mismatch is a
 * malformed message), `decide` turns the parsed event into an outcome.
 */
export interface EventSource<S extends z.ZodType = z.ZodType> {
  /** Named in reject reasons and logs. */
  name: string;
  matches(msg: Record<string, unknown>): boolean;
  schema: S;
  decide(event: z.output<S>, ctx: DecideContext): Classification;
}

export function eventSource<S extends z.ZodType>(s: EventSource<S>): EventSource<S> {
  return s;
}

/**
 * What to do on the node: `drain` taints, cordons and plans its pods;
 * `cordon` only taints and cordons (rebalance recommendations by default).
 */
export type NodeResponse = 'drain' | 'cordon';

/** An event the listener acts on, one or more instances at once (health events list several). */
export interface ActionableEvent {
  kind: EventKind;
  eventId: string;
  instanceIds: string[];
  /** ISO 8601 UTC with milliseconds; null when the kind has none. */
  deadline: string | null;
  /** When AWS says the event happened (ISO 8601). */
  eventTime: string;
  response: NodeResponse;
  /** ASG lifecycle action to complete once the node is handled (without the instance, which is per node). */
  lifecycleAction?: Omit<LifecycleAction, 'instanceId'>;
  /**
   * Fields AWS sent in a shape the rescue could do without (an unusable `time`
   * replaced by the receipt time): acted on anyway, and counted.
   */
  oddFields?: string[];
}

export type Classification =
  | { outcome: 'act'; event: ActionableEvent }
  | { outcome: 'ignore'; reason: string; kind?: EventKind }
  | { outcome: 'reject'; reason: string };

export interface DecideContext {
  /** When the message was received: "now" for kinds whose deadline is immediate. */
  now: Date;
  config: ClassifyConfig;
}

export const ignore = (reason: string, kind?: EventKind): Classification =>
  kind ? { outcome: 'ignore', reason, kind } : { outcome: 'ignore', reason };
/** Acts on the event; fields taken leniently ride along to be counted. */
export const act = (event: ActionableEvent, oddFields: readonly string[] = []): Classification => ({
  outcome: 'act',
  event: oddFields.length > 0 ? { ...event, oddFields: [...oddFields] } : event,
});
export const reject = (reason: string): Classification => ({ outcome: 'reject', reason });
