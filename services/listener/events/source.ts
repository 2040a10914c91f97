import type { z } from 'zod';
import type { Classification, DecideContext } from '../classification.js';

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
