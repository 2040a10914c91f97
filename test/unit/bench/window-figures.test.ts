import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  emfDisagreements,
  implausibleFigures,
  type LogLine,
  percentile,
  podReports,
  windowFigures,
} from '../../../bench/window-figures.js';

const MiB = 2 ** 20;
const NS = 'win-run';
const event = Date.parse('2026-12-01T10:49:48.000Z');
const deadline = event + 120_000;
const at = (s: number) => new Date(event + s * 1000).toISOString();

const accepted = (pod: string, checkpointId: string, ns = NS): LogLine => ({
  msg: 'checkpoint accepted by the source agent',
  time: at(1),
  pod: `${ns}/${pod}`,
  checkpointId,
  state: 'queued',
});
const finished = (pod: string, s: number, outcome: string, reason?: string, ns = NS): LogLine => ({
  msg: 'migration finished',
  time: at(s),
  pod: `${ns}/${pod}`,
  outcome,
  ...(reason ? { reason } : {}),
});
const archived = (checkpointId: string, s: number, mib: number, container = 'app'): LogLine => ({
  msg: 'container archived',
  time: at(s),
  node: 'win-run-0',
  checkpointId,
  container,
  bytesRaw: mib * MiB,
  bytesCompressed: (mib * MiB) / 8,
  timings: { checkpointMs: 100, uploadMs: 100, totalMs: 200, queuedMs: 0 },
});

/**
 * What a run logs: the calibration's checkpoints before the warning (the
 * agents archive them, the worker never names them), two pods restored
 * (their manifests since deleted by the worker), one drained early, and a
 * pod of another namespace the same worker handled.
 */
function run() {
  const worker: LogLine[] = [
    { msg: 'worker started', time: at(-30) },
    accepted('p-0-0', 'ck-a'),
    { msg: 'checkpointed', time: at(3), pod: `${NS}/p-0-0`, checkpointId: 'ck-a', ms: 2000 },
    accepted('p-0-1', 'ck-b'),
    finished('p-0-2', 2.5, 'evicted', 'out of budget: checkpoint would end after its cut-off'),
    finished('p-0-0', 9, 'restored'),
    finished('p-0-1', 14, 'restored'),
    accepted('q', 'ck-other', 'other-run'),
    finished('q', 5, 'restored', undefined, 'other-run'),
  ];
  const agents: LogLine[] = [
    archived('cal-1', -20, 32),
    archived('cal-2', -12, 32),
    archived('ck-a', 2, 64),
    archived('ck-b', 7, 16),
    archived('ck-b', 10, 16, 'sidecar'),
    archived('ck-other', 3, 512),
    { msg: 'agent listening', time: at(-40) },
  ];
  return { worker, agents, pods: ['p-0-0', 'p-0-1', 'p-0-2'].map((p) => `${NS}/${p}`) };
}

describe('window benchmark: figures from what the services logged', () => {
  test('each pod of the run gets its outcome and the archives its checkpoint stored; calibration and other runs do not count', () => {
    const { worker, agents } = run();
    const reports = podReports(NS, worker, agents);
    const byPod = Object.fromEntries(reports.map((r) => [r.pod, r]));
    assert.deepEqual(Object.keys(byPod).sort(), [`${NS}/p-0-0`, `${NS}/p-0-1`, `${NS}/p-0-2`]);
    assert.equal(byPod[`${NS}/p-0-0`]?.bytesRaw, 64 * MiB);
    assert.equal(byPod[`${NS}/p-0-0`]?.storedAt, event + 2000);
    // Two containers: bytes added, stored when the later one was.
    assert.equal(byPod[`${NS}/p-0-1`]?.bytesRaw, 32 * MiB);
    assert.equal(byPod[`${NS}/p-0-1`]?.storedAt, event + 10_000);
    assert.equal(byPod[`${NS}/p-0-2`]?.storedAt, undefined);
    assert.equal(byPod[`${NS}/p-0-2`]?.reason, 'out of budget: checkpoint would end after its cut-off');
  });

  test('figures: restored counted from the outcomes and the agents, margins and throughput from after the warning', () => {
    const { worker, agents, pods } = run();
    const reports = podReports(NS, worker, agents);
    const f = windowFigures(reports, { pods, deliveredAt: event, deadline });
    assert.equal(f.restored, 2);
    assert.equal(f.restoredBeforeDeadline, 2);
    assert.equal(f.evicted, 1);
    assert.equal(f.lost, 0);
    assert.deepEqual(
      f.margins.sort((a, b) => a - b),
      [110, 118],
    );
    assert.equal(f.bytesRaw, 96 * MiB);
    assert.equal(f.uploadWindowSeconds, 10);
    assert.equal(f.aggregateMiBps, 9.6);
    assert.deepEqual(f.drainedDecidedSeconds, [2.5]);
    assert.deepEqual(f.unfinished, []);
    assert.deepEqual(implausibleFigures(f, reports, { secondsLeftAtDelivery: 120 }), []);
  });

  test('a pod stored after the deadline is restored but not before it; a pod with no outcome is lost and named', () => {
    const { worker, agents, pods } = run();
    agents.push(archived('ck-late', 121, 8));
    worker.push(accepted('p-0-3', 'ck-late'), finished('p-0-3', 130, 'restored'));
    const all = [...pods, `${NS}/p-0-3`, `${NS}/p-0-4`];
    const f = windowFigures(podReports(NS, worker, agents), { pods: all, deliveredAt: event, deadline });
    assert.equal(f.restored, 3);
    assert.equal(f.restoredBeforeDeadline, 2);
    assert.equal(f.lost, 1);
    assert.deepEqual(f.unfinished, [`${NS}/p-0-4`]);
    assert.ok(f.margins.includes(-1));
  });

  test('figures read from the calibration alone are refused: margins above the warning, a negative window, restored pods without archives', () => {
    const { worker, agents, pods } = run();
    // What S3 held after the run: only the calibration's checkpoints, as if they were the run's.
    const reports = podReports(NS, worker, agents).map((r) =>
      r.pod === `${NS}/p-0-0`
        ? { ...r, storedAt: event - 20_000, bytesRaw: 32 * MiB }
        : { ...r, storedAt: undefined, bytesRaw: 0 },
    );
    const f = windowFigures(reports, { pods, deliveredAt: event, deadline });
    const problems = implausibleFigures(f, reports, { secondsLeftAtDelivery: 120 });
    assert.equal(problems.length, 4, problems.join('\n'));
    assert.match(problems.join('\n'), /margin\(s\) above the 120 s the warning had left when delivered/);
    assert.match(problems.join('\n'), /stored -20\.0 s after the warning was delivered/);
    assert.match(problems.join('\n'), /negative throughput/);
    assert.match(problems.join('\n'), /1 restored pod\(s\) with no archive/);
  });

  test('delivered late: margins count to the deadline AWS set, throughput and decisions from the delivery', () => {
    const { worker, agents, pods } = run();
    // The same logs, but the warning was issued 30 s before it was delivered (at `event`): the instance dies at event + 90 s.
    const late = { deliveredAt: event, deadline: event + 90_000 };
    const reports = podReports(NS, worker, agents);
    const f = windowFigures(reports, { pods, ...late });
    assert.deepEqual(
      f.margins.sort((a, b) => a - b),
      [80, 88],
    );
    assert.equal(f.uploadWindowSeconds, 10);
    assert.deepEqual(f.drainedDecidedSeconds, [2.5]);
    assert.deepEqual(implausibleFigures(f, reports, { secondsLeftAtDelivery: 90 }), []);
    // Read against a full 120 s warning, a margin of 88 s passes; against the 90 s it had, 95 s cannot.
    const early = reports.map((r) => (r.pod === `${NS}/p-0-0` ? { ...r, storedAt: event - 5_000 } : r));
    const g = windowFigures(early, { pods, ...late });
    assert.deepEqual(
      g.margins.sort((a, b) => a - b),
      [80, 95],
    );
    assert.match(
      implausibleFigures(g, early, { secondsLeftAtDelivery: 90 }).join('\n'),
      /1 margin\(s\) above the 90 s the warning had left when delivered \(max 95\.0 s\)/,
    );
  });

  test('more pods restored than there are is refused', () => {
    const { worker, agents } = run();
    const reports = podReports(NS, worker, agents);
    const f = windowFigures(reports, { pods: [`${NS}/p-0-0`], deliveredAt: event, deadline });
    assert.deepEqual(implausibleFigures(f, reports, { secondsLeftAtDelivery: 120 }), []);
    assert.match(
      implausibleFigures({ ...f, restored: 2, restoredBeforeDeadline: 2 }, reports, {
        secondsLeftAtDelivery: 120,
      }).join('\n'),
      /restored: 2 of 1 pods/,
    );
  });

  test('percentile: nearest rank; p1 of a margin is its low tail', () => {
    assert.equal(percentile([30, 10, 20], 50), 20);
    assert.equal(percentile([30, 10, 20], 1), 10);
    assert.equal(percentile([30, 10, 20], 100), 30);
    assert.ok(Number.isNaN(percentile([], 50)));
  });

  test("the worker's EMF lines agree with the log lines, and a disagreement is named", () => {
    const { worker, agents } = run();
    const emf = (pod: string, outcome: string, archiveBytes?: number, ns = NS): LogLine => ({
      _aws: { Timestamp: event, CloudWatchMetrics: [{}] },
      ClusterName: 'win-run',
      Outcome: outcome,
      PodNamespace: ns,
      Pod: pod,
      ...(archiveBytes === undefined ? {} : { ArchiveBytes: archiveBytes }),
    });
    worker.push(
      emf('p-0-0', 'restored', (64 * MiB) / 8),
      emf('p-0-1', 'restored', (32 * MiB) / 8),
      emf('p-0-2', 'evicted'),
      emf('q', 'restored', 1, 'other-run'),
    );
    const reports = podReports(NS, worker, agents);
    assert.deepEqual(emfDisagreements(NS, worker, reports), []);
    const wrong = worker.map((l) =>
      l['Pod'] === 'p-0-1'
        ? { ...l, ArchiveBytes: 1 }
        : l['Pod'] === 'p-0-2'
          ? { ...l, Outcome: 'failed' }
          : l,
    );
    assert.deepEqual(emfDisagreements(NS, wrong, reports), [
      `${NS}/p-0-1: 1 archive bytes in EMF, ${(32 * MiB) / 8} in the source agent's log`,
      `${NS}/p-0-2: evicted in the log, failed in EMF`,
    ]);
    const missing = worker.filter((l) => l['Pod'] !== 'p-0-0');
    assert.deepEqual(emfDisagreements(NS, missing, reports), [
      `${NS}/p-0-0: restored in the log, no EMF line`,
    ]);
  });
});
