import { createHash } from 'node:crypto';

/**
 * A pod uid as the API server would give it (a lower-case UUID), the same
 * for the same name: fixtures stay readable and a test can name its pod's
 * uid twice without keeping it in a variable.
 */
export function uidFor(name: string): string {
  const h = createHash('sha256').update(name).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
