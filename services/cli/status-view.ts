import { z } from 'zod';
import { evictPodJobSchema, migratePodJobSchema } from '../common/jobs.js';

/** One BullMQ job of the rescue or evict queue, as read from Redis: nothing in it trusted yet. */
export interface RawJob {
  id: string | undefined;
  name: string;
  state: string;
  data: unknown;
  progress: unknown;
  returnvalue: unknown;
  failedReason: string | undefined;
  timestamp: number;
  processedOn: number | undefined;
  finishedOn: number | undefined;
  attemptsMade: number;
}

/** What the worker saves as a migration goes (services/worker/migrate/context.ts, MigrateProgress). */
const progressSchema = z
  .object({
    stage: z.enum(['started', 'checkpointed', 'restored', 'created', 'done']).optional(),
    target: z.string().max(253).optional(),
    fallingBack: z.string().max(1000).optional(),
  })
  .catch({});

/** What a finished job returned (MigrateResult, or evict's { outcome, how }). */
const resultSchema = z.object({
  outcome: z.string().max(40),
  reason: z.string().max(1000).optional(),
  target: z.string().max(253).optional(),
  how: z.string().max(200).optional(),
});

export interface InFlight {
  node: string;
  pod: string;
  job: 'migrate' | 'evict';
  state: string;
  /** The migration's last saved stage; "queued" before a worker took it. */
  stage: string;
  target: string | null;
  /** Seconds until the source instance is due to go (negative: past it). */
  secondsLeft: number;
  eventKind: string;
  attempts: number;
}

export interface Finished {
  node: string;
  pod: string;
  job: 'migrate' | 'evict';
  outcome: string;
  target: string | null;
  reason: string | null;
  finishedAt: string;
  /** From the listener receiving the event to the job's end. */
  seconds: number | null;
}

export interface StatusReport {
  inFlight: InFlight[];
  recent: Finished[];
  /** Jobs whose data did not validate: shown, never interpreted. */
  unreadable: { id: string; reason: string }[];
}

const IN_FLIGHT = new Set(['active', 'waiting', 'prioritized', 'delayed', 'waiting-children']);

/** In flight per node and pod, and the last `recent` finished rescues, newest first. Pure. */
export function statusReport(jobs: readonly RawJob[], now: number, recent: number): StatusReport {
  const report: StatusReport = { inFlight: [], recent: [], unreadable: [] };
  const finished: Finished[] = [];
  for (const j of jobs) {
    const kind = j.name === 'migrate-pod' ? 'migrate' : j.name === 'evict-pod' ? 'evict' : null;
    if (!kind) continue;
    const parsed = (kind === 'migrate' ? migratePodJobSchema : evictPodJobSchema).safeParse(j.data);
    if (!parsed.success) {
      report.unreadable.push({
        id: String(j.id ?? '?'),
        reason: parsed.error.issues[0]?.message ?? 'invalid',
      });
      continue;
    }
    const d = parsed.data;
    const pod = `${d.pod.namespace}/${d.pod.name}`;
    if (IN_FLIGHT.has(j.state)) {
      const p = progressSchema.parse(j.progress ?? {});
      report.inFlight.push({
        node: d.node.name,
        pod,
        job: kind,
        state: j.state,
        stage: kind === 'evict' ? 'evicting' : j.state === 'active' ? (p.stage ?? 'started') : 'queued',
        target: p.target ?? null,
        secondsLeft: Math.round((Date.parse(d.deadline) - now) / 1000),
        eventKind: d.event.kind,
        attempts: j.attemptsMade,
      });
    } else if (j.state === 'completed' || j.state === 'failed') {
      const r = resultSchema.safeParse(j.returnvalue);
      const end = j.finishedOn ?? j.processedOn ?? j.timestamp;
      const received = Date.parse(d.event.receivedAt);
      finished.push({
        node: d.node.name,
        pod,
        job: kind,
        outcome: j.state === 'failed' ? 'failed' : r.success ? r.data.outcome : 'unknown',
        target: r.success ? (r.data.target ?? null) : null,
        reason: j.state === 'failed' ? (j.failedReason ?? null) : r.success ? (r.data.reason ?? null) : null,
        finishedAt: new Date(end).toISOString(),
        seconds: Number.isNaN(received) ? null : Math.round((end - received) / 100) / 10,
      });
    }
  }
  report.inFlight.sort((a, b) => a.node.localeCompare(b.node) || a.secondsLeft - b.secondsLeft);
  report.recent = finished.sort((a, b) => b.finishedAt.localeCompare(a.finishedAt)).slice(0, recent);
  return report;
}

/** The report as an operator reads it in a terminal. */
export function formatStatus(r: StatusReport): string {
  const out: string[] = [];
  if (r.inFlight.length === 0) out.push('No rescue in flight.');
  else {
    out.push(`In flight (${r.inFlight.length}):`);
    let node = '';
    for (const f of r.inFlight) {
      if (f.node !== node) {
        node = f.node;
        out.push(`  node ${node} (${f.eventKind})`);
      }
      const left = f.secondsLeft >= 0 ? `${f.secondsLeft} s left` : `${-f.secondsLeft} s past the deadline`;
      const target = f.target ? ` -> ${f.target}` : '';
      const tries = f.attempts > 0 ? `, attempt ${f.attempts + 1}` : '';
      out.push(`    ${f.pod}  ${f.job}  ${f.stage}${target}  ${left}${tries}`);
    }
  }
  out.push('');
  if (r.recent.length === 0) out.push('No finished rescue in Redis.');
  else {
    out.push(`Last ${r.recent.length} finished:`);
    for (const f of r.recent) {
      const target = f.target ? ` on ${f.target}` : '';
      const took = f.seconds === null ? '' : ` in ${f.seconds} s`;
      const why = f.reason ? ` (${f.reason})` : '';
      out.push(`  ${f.finishedAt}  ${f.pod}  from ${f.node}: ${f.outcome}${target}${took}${why}`);
    }
  }
  if (r.unreadable.length > 0) {
    out.push('', `${r.unreadable.length} job(s) in Redis did not validate and are not shown:`);
    for (const u of r.unreadable) out.push(`  ${u.id}: ${u.reason}`);
  }
  return `${out.join('\n')}\n`;
}
