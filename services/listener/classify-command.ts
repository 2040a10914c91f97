import { readFile } from 'node:fs/promises';
import { readConfig } from '../common/config.js';
import { classifyMessage } from './classify.js';
import type { Classification } from './events/source.js';
import { type ClassifyConfig, classifySettings } from './settings.js';

/** The one-line JSON the `classify` command prints for a message. */
export function classificationLine(c: Classification): string {
  if (c.outcome === 'act') {
    const e = c.event;
    return JSON.stringify({
      outcome: 'act',
      kind: e.kind,
      eventId: e.eventId,
      instanceIds: e.instanceIds,
      deadline: e.deadline,
    });
  }
  return JSON.stringify({ outcome: c.outcome, reason: c.reason });
}

export class UsageError extends Error {}

async function readInput(path: string): Promise<string> {
  if (path !== '-') return readFile(path, 'utf8');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Reads every input before printing anything, so each printed line belongs to
 * the input at the same position; an unreadable file fails the whole run.
 */
export async function runClassify(paths: string[], config: ClassifyConfig = readConfig(classifySettings)) {
  if (paths.filter((p) => p === '-').length > 1) throw new UsageError('stdin (-) may be given only once');
  const bodies: string[] = [];
  const unreadable: string[] = [];
  for (const p of paths) {
    try {
      bodies.push(await readInput(p));
    } catch (err) {
      unreadable.push(`${p}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  if (unreadable.length > 0) throw new UsageError(`cannot read ${unreadable.join(', ')}`);
  const now = new Date();
  return bodies.map((b) => classificationLine(classifyMessage(b, { now, config })));
}
