/**
 * `npm run chaos`: every fault once, a table of what became of the pods.
 *
 *   eval "$(infra/stack env)"; npm run chaos -- [--faults redis-restart,s3-outage] [--replicas 2] [--lock-ms 10000]
 *     [--job-backoff-limit 6]
 *
 * Each process's log is kept under .stack/chaos/<run>/ for reading afterwards.
 */
import { parseArgs } from 'node:util';
import { ChaosBed, FAULTS, type FaultName, formatTable } from './harness.js';

const { values: args } = parseArgs({
  options: {
    faults: { type: 'string', default: FAULTS.join(',') },
    replicas: { type: 'string', default: '2' },
    'lock-ms': { type: 'string', default: '10000' },
    'settle-s': { type: 'string', default: '180' },
    'job-backoff-limit': { type: 'string', default: '6' },
  },
});
const faults = (args.faults as string).split(',').filter(Boolean);
for (const f of faults) {
  if (!FAULTS.includes(f as FaultName)) throw new Error(`unknown fault ${f}; known: ${FAULTS.join(', ')}`);
}

const bed = new ChaosBed({
  faults: faults as FaultName[],
  deploymentReplicas: Number(args.replicas),
  workerLockMs: Number(args['lock-ms']),
  settleTimeoutMs: Number(args['settle-s']) * 1000,
  jobBackoffLimit: Number(args['job-backoff-limit']),
  say: (l) => console.log(l),
});
let failed = false;
try {
  console.log(`chaos run ${bed.id}: ${faults.length} faults, logs in ${bed.logDir}`);
  await bed.setUp();
  const rows = await bed.runAll();
  console.log(`\n${formatTable(rows)}`);
  failed = rows.some(
    (r) => !r.injectedOk || r.lost > 0 || r.doubled > 0 || r.frozen > 0 || r.openUploads > 0,
  );
  const notes = rows.filter((r) => r.notes.length > 0);
  if (notes.length > 0) {
    console.log('\nnotes:');
    for (const r of notes) for (const n of r.notes) console.log(`  ${r.fault}: ${n}`);
  }
} catch (err) {
  console.error(err);
  failed = true;
} finally {
  await bed.close().catch((err: Error) => {
    console.error(err.message);
    failed = true;
  });
}
process.exit(failed ? 1 : 0);
