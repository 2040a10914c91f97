import { z } from 'zod';

/**
 * The window benchmark's figures, computed from what the services reported
 * during the run, as a platform team would read them: the worker's log line
 * per finished migration (its outcome and when it was decided), the worker's
 * line naming each pod's checkpoint, and the source agent's line per
 * archived container (bytes, and the moment its upload ended).
 *
 * Not from S3: the worker deletes a restored pod's archives and manifest
 * once its copy runs (services/worker/migrate/cleanup.ts), and the bucket
 * also holds the calibration's checkpoints, taken before the warning. Read
 * after the run, the manifests named mostly the calibration, which is how
 * the benchmark came to print a negative throughput and margins above the
 * whole warning.
 */

/** `migration finished`: one per migrate-pod job run that ended (worker, migrate/context.ts). */
const outcomeLineSchema = z.object({
  msg: z.literal('migration finished'),
  time: z.string().datetime(),
  pod: z.string(),
  outcome: z.string(),
  reason: z.string().optional(),
});

/** Lines of the worker that tie a pod to its checkpoint id (migrate/admission.ts, migrate/checkpoint.ts). */
const checkpointLineSchema = z.object({
  msg: z.enum(['checkpoint accepted by the source agent', 'checkpointed']),
  pod: z.string(),
  checkpointId: z.string(),
});

/** `container archived`: the source agent's line once a container's archive is in S3 (agent-service.ts). */
const archiveLineSchema = z.object({
  msg: z.literal('container archived'),
  time: z.string().datetime(),
  checkpointId: z.string(),
  container: z.string(),
  bytesRaw: z.number().int().nonnegative(),
  bytesCompressed: z.number().int().nonnegative(),
});

export type LogLine = { msg?: string } & Record<string, unknown>;

/** What the services said about one pod of the run. */
export interface PodReport {
  /** `namespace/name`, as the worker logs it. */
  pod: string;
  outcome?: string;
  reason?: string;
  /** Epoch ms the worker logged its outcome. */
  decidedAt?: number;
  checkpointIds: string[];
  /** Epoch ms the last of its containers' archives was stored; absent: none was. */
  storedAt?: number;
  bytesRaw: number;
  bytesCompressed: number;
}

/**
 * Per pod of `namespace`, from the worker's and the agents' log lines. A
 * line that is not one of the three kinds, or of another namespace (the
 * listener also re-plans other runs' tainted nodes), is left out; the last
 * outcome of a pod counts (a retried job logs again); a container archived
 * twice counts once, at its last upload.
 */
export function podReports(namespace: string, workerLines: LogLine[], agentLines: LogLine[]): PodReport[] {
  const ours = (pod: string) => pod.startsWith(`${namespace}/`);
  const reports = new Map<string, PodReport>();
  const reportOf = (pod: string) => {
    let r = reports.get(pod);
    if (!r) {
      r = { pod, checkpointIds: [], bytesRaw: 0, bytesCompressed: 0 };
      reports.set(pod, r);
    }
    return r;
  };
  const podOfCheckpoint = new Map<string, string>();
  for (const line of workerLines) {
    const done = outcomeLineSchema.safeParse(line);
    if (done.success && ours(done.data.pod)) {
      const r = reportOf(done.data.pod);
      r.outcome = done.data.outcome;
      r.decidedAt = Date.parse(done.data.time);
      if (done.data.reason === undefined) delete r.reason;
      else r.reason = done.data.reason;
      continue;
    }
    const ck = checkpointLineSchema.safeParse(line);
    if (ck.success && ours(ck.data.pod)) {
      const r = reportOf(ck.data.pod);
      if (!r.checkpointIds.includes(ck.data.checkpointId)) r.checkpointIds.push(ck.data.checkpointId);
      podOfCheckpoint.set(ck.data.checkpointId, ck.data.pod);
    }
  }
  const archives = new Map<string, z.infer<typeof archiveLineSchema>>();
  for (const line of agentLines) {
    const a = archiveLineSchema.safeParse(line);
    if (a.success && podOfCheckpoint.has(a.data.checkpointId))
      archives.set(`${a.data.checkpointId}/${a.data.container}`, a.data);
  }
  for (const a of archives.values()) {
    const r = reportOf(podOfCheckpoint.get(a.checkpointId) as string);
    r.bytesRaw += a.bytesRaw;
    r.bytesCompressed += a.bytesCompressed;
    r.storedAt = Math.max(r.storedAt ?? Number.NEGATIVE_INFINITY, Date.parse(a.time));
  }
  return [...reports.values()];
}

/** The worker's CloudWatch EMF line per finished rescue (services/common/emf.ts), as far as it is read here. */
const emfLineSchema = z.object({
  _aws: z.object({ CloudWatchMetrics: z.array(z.unknown()) }),
  PodNamespace: z.string(),
  Pod: z.string(),
  Outcome: z.string(),
  ArchiveBytes: z.number().int().nonnegative().optional(),
});

/** Outcomes the worker writes an EMF line for (services/common/outcomes.ts, RESCUE_OUTCOMES). */
const EMF_OUTCOMES = new Set(['restored', 'evicted', 'failed']);

/**
 * Where the worker's EMF lines (what CloudWatch would alarm on) disagree with
 * the pod reports built from the log lines: another outcome, other archive
 * bytes than the source agent logged, or a rescue with no EMF line. Empty:
 * the two signals tell the same story.
 */
export function emfDisagreements(namespace: string, workerLines: LogLine[], reports: PodReport[]): string[] {
  const emf = new Map<string, z.infer<typeof emfLineSchema>>();
  for (const line of workerLines) {
    const e = emfLineSchema.safeParse(line);
    if (e.success && e.data.PodNamespace === namespace) emf.set(`${namespace}/${e.data.Pod}`, e.data);
  }
  const problems: string[] = [];
  for (const r of reports) {
    if (r.outcome === undefined || !EMF_OUTCOMES.has(r.outcome)) continue;
    const e = emf.get(r.pod);
    if (!e) problems.push(`${r.pod}: ${r.outcome} in the log, no EMF line`);
    else if (e.Outcome !== r.outcome) problems.push(`${r.pod}: ${r.outcome} in the log, ${e.Outcome} in EMF`);
    else if (e.ArchiveBytes !== undefined && e.ArchiveBytes !== r.bytesCompressed)
      problems.push(
        `${r.pod}: ${e.ArchiveBytes} archive bytes in EMF, ${r.bytesCompressed} in the source agent's log`,
      );
  }
  return problems;
}

/** The p-th percentile (nearest rank); NaN for no values. */
export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] as number;
}

export interface WindowFigures {
  pods: number;
  outcomes: Record<string, number>;
  restored: number;
  evicted: number;
  /** Neither restored nor evicted: failed, or no outcome at all. */
  lost: number;
  /** Restored, with its archive stored before the instance's deadline. */
  restoredBeforeDeadline: number;
  /** Seconds left before the instance's deadline (the warning as AWS issued it + 120 s) when each stored checkpoint's upload ended. */
  margins: number[];
  bytesRaw: number;
  bytesCompressed: number;
  /** From the warning's delivery to the last archive stored; NaN when none was. */
  uploadWindowSeconds: number;
  aggregateMiBps: number;
  /** Seconds after the warning's delivery at which each pod not restored was decided. */
  drainedDecidedSeconds: number[];
  /** Pods of the run the worker logged no outcome for. */
  unfinished: string[];
}

/**
 * The run's figures from its pod reports: `pods` are the run's pod names
 * (`namespace/name`), `deliveredAt` when the warnings were put on the queue
 * (nothing in the pipeline can start earlier: throughput and decision times
 * count from it), `deadline` when the instances die (the warning as AWS
 * issued it + 120 s: margins count to it).
 */
export function windowFigures(
  reports: PodReport[],
  o: { pods: string[]; deliveredAt: number; deadline: number },
): WindowFigures {
  const byPod = new Map(reports.map((r) => [r.pod, r]));
  const ofRun = o.pods.map((p) => byPod.get(p)).filter((r): r is PodReport => r !== undefined);
  const outcomes: Record<string, number> = {};
  for (const r of ofRun) if (r.outcome) outcomes[r.outcome] = (outcomes[r.outcome] ?? 0) + 1;
  const restored = outcomes['restored'] ?? 0;
  const evicted = outcomes['evicted'] ?? 0;
  const stored = ofRun.filter((r) => r.storedAt !== undefined);
  const storedAt = stored.map((r) => r.storedAt as number);
  const bytesRaw = ofRun.reduce((a, r) => a + r.bytesRaw, 0);
  const uploadWindowSeconds = storedAt.length ? (Math.max(...storedAt) - o.deliveredAt) / 1000 : Number.NaN;
  return {
    pods: o.pods.length,
    outcomes,
    restored,
    evicted,
    lost: o.pods.length - restored - evicted,
    restoredBeforeDeadline: ofRun.filter(
      (r) => r.outcome === 'restored' && r.storedAt !== undefined && r.storedAt <= o.deadline,
    ).length,
    margins: storedAt.map((t) => (o.deadline - t) / 1000),
    bytesRaw,
    bytesCompressed: ofRun.reduce((a, r) => a + r.bytesCompressed, 0),
    uploadWindowSeconds,
    aggregateMiBps: bytesRaw / 2 ** 20 / uploadWindowSeconds,
    drainedDecidedSeconds: ofRun
      .filter((r) => r.outcome !== undefined && r.outcome !== 'restored' && r.decidedAt !== undefined)
      .map((r) => ((r.decidedAt as number) - o.deliveredAt) / 1000),
    unfinished: o.pods.filter((p) => byPod.get(p)?.outcome === undefined),
  };
}

/**
 * Why the figures cannot be what happened, if they cannot: a benchmark that
 * reads the wrong signal must stop rather than print them. Empty: plausible.
 * `secondsLeftAtDelivery` is what the warning had left when it was delivered
 * (120 s less the delivery delay): an archive with more left than that was
 * stored before the pipeline could have started on it.
 */
export function implausibleFigures(
  f: WindowFigures,
  reports: PodReport[],
  o: { secondsLeftAtDelivery: number },
): string[] {
  const problems: string[] = [];
  const share = (n: number) => (f.pods > 0 ? n / f.pods : 0);
  for (const [name, n] of [
    ['restored', f.restored],
    ['evicted', f.evicted],
    ['lost', f.lost],
    ['restored before the deadline', f.restoredBeforeDeadline],
  ] as const)
    if (share(n) < 0 || share(n) > 1) problems.push(`${name}: ${n} of ${f.pods} pods`);
  if (f.restoredBeforeDeadline > f.restored)
    problems.push(`${f.restoredBeforeDeadline} restored before the deadline but ${f.restored} restored`);
  const above = f.margins.filter((m) => m > o.secondsLeftAtDelivery);
  if (above.length)
    problems.push(
      `${above.length} margin(s) above the ${o.secondsLeftAtDelivery} s the warning had left when delivered (max ${Math.max(...above).toFixed(1)} s): an archive stored before the warning reached the cluster`,
    );
  if (f.uploadWindowSeconds <= 0)
    problems.push(
      `the last archive was stored ${f.uploadWindowSeconds.toFixed(1)} s after the warning was delivered`,
    );
  if (f.aggregateMiBps < 0) problems.push(`negative throughput ${f.aggregateMiBps.toFixed(1)} MiB/s`);
  const early = f.drainedDecidedSeconds.filter((s) => s < 0);
  if (early.length) problems.push(`${early.length} drained pod(s) decided before the warning was delivered`);
  const restoredUnseen = reports.filter(
    (r) => r.outcome === 'restored' && (r.storedAt === undefined || r.bytesRaw === 0),
  );
  if (restoredUnseen.length)
    problems.push(
      `${restoredUnseen.length} restored pod(s) with no archive in the agents' logs (${restoredUnseen
        .slice(0, 3)
        .map((r) => r.pod)
        .join(', ')})`,
    );
  return problems;
}
