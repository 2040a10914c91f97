import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * HMAC-SHA256 over what the listener (or the worker, for the jobs and
 * progress it writes) puts in Redis, so that a job or a saved progress
 * written by anyone else who can reach Redis is refused. The MAC covers the
 * queue, the job name and the job id as well as the data: a valid job's data
 * cannot be replayed under another id, name or queue.
 */

/** The field of a job's data (or saved progress) the signature travels in. */
export const SIGNATURE_FIELD = 'signature';
const VERSION = 'v1';

/** What a signature is bound to besides the data itself. */
export interface SignatureScope {
  queue: string;
  /** The BullMQ job name, or a name of its own for a job's saved progress. */
  name: string;
  id: string;
}

/**
 * JSON with object keys sorted at every level and undefined members left
 * out: the same value always serialises to the same bytes, whatever the
 * order its keys were built or read back from Redis in.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) return 'null';
    return JSON.stringify(value) ?? 'null';
  }
  if (Array.isArray(value))
    return `[${value.map((v) => (v === undefined || typeof v === 'function' ? 'null' : canonicalJson(v))).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined && typeof v !== 'function')
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

export class JobSigner {
  constructor(private readonly key: Buffer) {
    if (key.length < 32) throw new Error('a job signing key must be at least 32 bytes');
  }

  private mac(scope: SignatureScope, data: unknown): Buffer {
    return createHmac('sha256', this.key)
      .update(canonicalJson({ v: VERSION, queue: scope.queue, name: scope.name, id: scope.id, data }))
      .digest();
  }

  /** `v1:<hex>` over the scope and the data (any signature field in it left out). */
  sign(scope: SignatureScope, data: Record<string, unknown>): string {
    return `${VERSION}:${this.mac(scope, withoutSignature(data)).toString('hex')}`;
  }

  /** The data with its signature added, as it goes to Redis. */
  signed<T extends object>(scope: SignatureScope, data: T): T & { [SIGNATURE_FIELD]: string } {
    const plain = withoutSignature(data as Record<string, unknown>);
    return { ...plain, [SIGNATURE_FIELD]: this.sign(scope, plain) } as T & { [SIGNATURE_FIELD]: string };
  }

  /** Why data read back from Redis cannot be trusted, or undefined when its signature holds. */
  problem(scope: SignatureScope, data: unknown): string | undefined {
    if (data === null || typeof data !== 'object' || Array.isArray(data)) return 'not an object';
    const given = (data as Record<string, unknown>)[SIGNATURE_FIELD];
    if (typeof given !== 'string') return 'no signature';
    const m = /^v1:([0-9a-f]{64})$/.exec(given);
    if (!m?.[1]) return 'malformed signature';
    const expected = this.mac(scope, withoutSignature(data as Record<string, unknown>));
    return timingSafeEqual(Buffer.from(m[1], 'hex'), expected) ? undefined : 'signature does not match';
  }
}

export function withoutSignature<T extends Record<string, unknown>>(
  data: T,
): Omit<T, typeof SIGNATURE_FIELD> {
  const { [SIGNATURE_FIELD]: _, ...rest } = data;
  return rest;
}
