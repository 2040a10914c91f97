import { z } from 'zod';
import { ADMISSION_DECISIONS, type AdmissionDecision } from '../services/agent/checkpoint-admission.js';

/**
 * What the interrupted nodes' agents decided about the burst's checkpoints,
 * from their `admission` log lines (services/agent/service.ts): how many
 * were accepted outright, at risk, refused or dropped, and for those at
 * risk when they were accepted and when they were confirmed or dropped,
 * counted from the delivery like the drained pods' decisions. The
 * calibration's checkpoints carry no memory size, so none of them is
 * judged: every such line of a run's agents is about its burst.
 */

const decisions = ADMISSION_DECISIONS;
type Decision = AdmissionDecision;

const admissionLineSchema = z.object({
  msg: z.literal('admission'),
  time: z.string().datetime(),
  checkpointId: z.string(),
  decision: z.enum(decisions),
  memoryMiB: z.number(),
  rateMiBps: z.number(),
  rateBasis: z.string(),
});

export interface AtRiskCheckpoint {
  checkpointId: string;
  memoryMiB: number;
  /** s after delivery it was accepted at risk; undefined: put at risk later, by a shorter arrival. */
  acceptedAfterS?: number | undefined;
  /** confirmed, dropped-at-risk, or neither (it ran, or ended, before its window did). */
  end?: 'confirmed' | 'dropped-at-risk' | undefined;
  endAfterS?: number | undefined;
}

export interface AdmissionSummary {
  counts: Record<Decision, number>;
  atRisk: AtRiskCheckpoint[];
  /** The node rate the decisions were planned with (MiB/s), lowest and highest. */
  rateMiBps: { min: number; max: number } | undefined;
}

export function admissionSummary(
  agentLines: Record<string, unknown>[],
  deliveredAt: number,
): AdmissionSummary {
  const counts = Object.fromEntries(decisions.map((d) => [d, 0])) as Record<Decision, number>;
  const atRisk = new Map<string, AtRiskCheckpoint>();
  let rate: { min: number; max: number } | undefined;
  for (const line of agentLines) {
    const a = admissionLineSchema.safeParse(line);
    if (!a.success) continue;
    const { decision, checkpointId, memoryMiB, rateMiBps } = a.data;
    counts[decision]++;
    rate = {
      min: Math.min(rate?.min ?? rateMiBps, rateMiBps),
      max: Math.max(rate?.max ?? rateMiBps, rateMiBps),
    };
    const afterS = (Date.parse(a.data.time) - deliveredAt) / 1000;
    if (decision === 'accepted-at-risk')
      atRisk.set(checkpointId, { checkpointId, memoryMiB, acceptedAfterS: afterS });
    else if (decision === 'confirmed' || decision === 'dropped-at-risk') {
      const r = atRisk.get(checkpointId) ?? { checkpointId, memoryMiB };
      atRisk.set(checkpointId, { ...r, end: decision, endAfterS: afterS });
    }
  }
  return { counts, atRisk: [...atRisk.values()], rateMiBps: rate };
}

/** One line for the run's printout: "accepted 7, at risk 2 (1 confirmed at +18.2 s, ...), refused 3, dropped 0". */
export function admissionLine(s: AdmissionSummary): string {
  const at = (x: number | undefined) => (x === undefined ? '' : ` at +${x.toFixed(1)} s`);
  const risky = s.atRisk.map(
    (r) =>
      `${r.memoryMiB.toFixed(0)} MiB ${r.end === undefined ? 'kept' : r.end === 'confirmed' ? 'confirmed' : 'dropped'}${at(r.end === undefined ? r.acceptedAfterS : r.endAfterS)}`,
  );
  const c = s.counts;
  return (
    `accepted ${c.accepted}, at risk ${s.atRisk.length}${risky.length ? ` (${risky.join('; ')})` : ''}, ` +
    `refused ${c.refused}, dropped ${c.dropped + c['dropped-at-risk']}` +
    (s.rateMiBps
      ? `; planned at ${s.rateMiBps.min.toFixed(1)} to ${s.rateMiBps.max.toFixed(1)} MiB/s per node`
      : '')
  );
}
