/**
 * The README's rows for `npm run bench:window` runs, from the JSON the
 * benchmark wrote (`--json`), so the tables are the runs' own figures
 * rather than copied by hand:
 *
 *   npm run bench:window:table -- out/bench-window.json [more.json ...]
 */
import { readFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';

const decidedSchema = z.object({ p50: z.number().nullable(), max: z.number().nullable(), count: z.number() });

/** The part of one run's result (bench/window.ts) a row shows; NaN is written to JSON as null. */
const runSchema = z.object({
  run: z.number(),
  pods: z.number(),
  memoryMiB: z.number(),
  warning: z.object({ deliveredLateSeconds: z.number() }),
  capacity: z.object({
    oneNodeMiBps: z.number(),
    allNodesMiBps: z.number(),
    // Absent in runs before the uplink option; null: no limit.
    nodeUplinkMiBps: z.number().nullable().optional(),
  }),
  offeredLoad: z.number(),
  oracle: z.number(),
  // Absent in runs before the burst's own rate was read.
  oracleAtBurstRate: z.number().optional(),
  burstMiBps: z.number().optional(),
  restoredBeforeDeadline: z.number(),
  drainedDecidedFromDeliverySeconds: decidedSchema,
  lost: z.number(),
  processesContinued: z.number(),
  marginSeconds: z.object({ p50: z.number().nullable(), p99: z.number().nullable() }),
  aggregateMiBps: z.number().nullable(),
  uploadWindowSecondsFromDelivery: z.number().nullable(),
  loadAverage: z.array(z.number()),
  // The agents' decisions (bench/window-admissions.ts); absent in runs before they were logged.
  admissions: z
    .object({
      counts: z.object({ refused: z.number(), dropped: z.number(), 'dropped-at-risk': z.number() }),
      atRisk: z.array(z.object({ end: z.string().optional() })),
    })
    .optional(),
});
const outputSchema = z.object({ runs: z.array(runSchema) });

export type RunRow = z.infer<typeof runSchema>;

export const TABLE_HEADER = [
  '| run | load | delivered late | memory | capacity, all nodes (one node) | restored / oracle | oracle at the burst rate | restored / pods | drained, decided after delivery | lost | margin p50 / p99 | throughput | agents: refused, dropped; at risk kept / dropped | load average |',
  '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
].join('\n');

const n = (x: number, digits = 1) =>
  x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const s = (x: number | null) => (x === null ? 'none' : `${n(x)} s`);

/** One run as a README table row (the columns of TABLE_HEADER). */
export function tableRow(r: RunRow): string {
  const d = r.drainedDecidedFromDeliverySeconds;
  const pct = r.oracle > 0 ? ` (${n((r.restoredBeforeDeadline / r.oracle) * 100)} %)` : '';
  const a = r.admissions;
  const agents = a
    ? `${a.counts.refused}, ${a.counts.dropped + a.counts['dropped-at-risk']}; ${a.atRisk.filter((x) => x.end !== 'dropped-at-risk').length} / ${a.atRisk.filter((x) => x.end === 'dropped-at-risk').length}`
    : 'not logged';
  const uplink = r.capacity.nodeUplinkMiBps ? `; uplink ${n(r.capacity.nodeUplinkMiBps)} MiB/s a node` : '';
  const atBurst =
    r.oracleAtBurstRate === undefined
      ? 'not measured'
      : `${r.oracleAtBurstRate}${r.burstMiBps === undefined ? '' : ` at ${n(r.burstMiBps)} MiB/s`}`;
  return `| ${r.run} | ${n(r.offeredLoad, 2)}x | ${r.warning.deliveredLateSeconds} s | ${n(r.memoryMiB, 0)} MiB | ${n(r.capacity.allNodesMiBps)} MiB/s (${n(r.capacity.oneNodeMiBps)})${uplink} | ${r.restoredBeforeDeadline} of ${r.oracle}${pct} | ${atBurst} | ${r.restoredBeforeDeadline} of ${r.pods} | ${d.count ? `${d.count}, p50 ${s(d.p50)}, max ${s(d.max)}` : 'none'} | ${r.lost} | ${s(r.marginSeconds.p50)} / ${s(r.marginSeconds.p99)} | ${r.aggregateMiBps === null ? 'none' : `${n(r.aggregateMiBps)} MiB/s over ${s(r.uploadWindowSecondsFromDelivery)}`} | ${agents} | ${r.loadAverage.map((x) => n(x)).join(' ')} |`;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(TABLE_HEADER);
  for (const path of process.argv.slice(2))
    for (const r of outputSchema.parse(JSON.parse(await readFile(path, 'utf8'))).runs)
      console.log(tableRow(r));
}
