import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ChaosBed, type FaultRow, formatTable } from '../chaos/harness.js';

/**
 * The short version of `npm run chaos`: a few pods (a Deployment, a
 * StatefulSet, a Job and a bare pod on one node per fault) and the faults
 * that reach furthest (the worker killed mid-checkpoint, Redis crashed and
 * restarted, the API server stalled). Nothing lost, nothing doubled, nothing
 * left frozen, no multipart upload left open.
 */
describe('chaos: faults while rescues are in flight', () => {
  const bed = new ChaosBed({
    faults: ['worker-sigkill-checkpoint', 'redis-restart', 'kube-api-stall'],
    deploymentReplicas: 1,
    workerLockMs: 10_000,
    settleTimeoutMs: 150_000,
    say: (line) => console.log(line),
  });
  let rows: FaultRow[] = [];

  before(() => bed.setUp(), { timeout: 300_000 });
  after(() => bed.close(), { timeout: 120_000 });

  test('every pod ends restored or evicted exactly once under each fault', {
    timeout: 900_000,
  }, async (t) => {
    rows = await bed.runAll();
    t.diagnostic(`\n${formatTable(rows)}`);
    for (const r of rows) for (const n of r.notes) t.diagnostic(`${r.fault}: ${n}`);
    for (const r of rows) {
      assert.ok(r.injectedOk, `${r.fault}: ${r.injected}`);
      assert.equal(r.pods, 4, `${r.fault}: four pods on the node`);
      assert.equal(r.lost, 0, `${r.fault}: lost (${r.notes.join('; ')})`);
      assert.equal(r.doubled, 0, `${r.fault}: doubled (${r.notes.join('; ')})`);
      assert.equal(r.frozen, 0, `${r.fault}: left frozen (${r.notes.join('; ')})`);
      assert.equal(r.openUploads, 0, `${r.fault}: multipart uploads left open`);
      assert.equal(r.countersOk, r.countersChecked, `${r.fault}: a restored counter went back`);
      assert.equal(r.restored + r.evicted, r.pods, `${r.fault}: every pod restored or evicted`);
    }
  });
});
