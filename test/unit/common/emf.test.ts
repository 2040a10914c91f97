import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readConfig } from '../../../services/common/config.js';
import {
  createEmfRecorder,
  EMF_METRICS,
  emfSettings,
  type RescueOutcome,
  rescueOutcomeToEmf,
} from '../../../services/common/emf.js';

const base: RescueOutcome = {
  cluster: 'prod-eu',
  outcome: 'restored',
  eventKind: 'spot-interruption',
  namespace: 'shop',
  pod: 'cart-7d9f',
  finishedAt: 1_764_000_000_000,
  durationMs: 41_250,
};

interface EmfDoc {
  _aws: {
    Timestamp: number;
    CloudWatchMetrics: {
      Namespace: string;
      Dimensions: string[][];
      Metrics: { Name: string; Unit: string }[];
    }[];
  };
  [key: string]: unknown;
}

const parse = (line: string) => JSON.parse(line) as EmfDoc;

/**
 * The rules CloudWatch applies before it extracts metrics: every dimension
 * and metric named in a directive must be a top-level member, metric values
 * numbers, dimension values strings, at most 30 dimensions per set.
 */
function assertValidEmf(doc: EmfDoc): void {
  assert.equal(typeof doc._aws.Timestamp, 'number');
  for (const d of doc._aws.CloudWatchMetrics) {
    assert.ok(d.Namespace.length > 0);
    for (const set of d.Dimensions) {
      assert.ok(set.length <= 30);
      for (const dim of set) assert.equal(typeof doc[dim], 'string', `dimension ${dim} is a string member`);
    }
    for (const m of d.Metrics)
      assert.equal(typeof doc[m.Name], 'number', `metric ${m.Name} is a number member`);
  }
}

describe('rescueOutcomeToEmf', () => {
  it('emits one valid EMF line counting a successful rescue and no failure', () => {
    const line = rescueOutcomeToEmf(base);
    assert.ok(!line.includes('\n'));
    const doc = parse(line);
    assertValidEmf(doc);
    assert.equal(doc._aws.Timestamp, base.finishedAt);
    assert.equal(doc._aws.CloudWatchMetrics[0]?.Namespace, 'SpotRescue');
    assert.equal(doc[EMF_METRICS.rescues], 1);
    assert.equal(doc[EMF_METRICS.rescuesFailed], 0);
    assert.equal(doc[EMF_METRICS.rescueDuration], 41_250);
    assert.equal(doc['ClusterName'], 'prod-eu');
    assert.equal(doc['Outcome'], 'restored');
    assert.equal(doc['EventKind'], 'spot-interruption');
  });

  it('counts a failed rescue in RescuesFailed, the metric the Terraform alarm watches', () => {
    const doc = parse(rescueOutcomeToEmf({ ...base, outcome: 'failed', reason: 'agent unreachable' }));
    assertValidEmf(doc);
    assert.equal(doc[EMF_METRICS.rescuesFailed], 1);
    assert.equal(doc['Reason'], 'agent unreachable');
    // The alarm queries RescuesFailed by ClusterName alone: that set must be declared.
    assert.deepEqual(doc._aws.CloudWatchMetrics[0]?.Dimensions[0], ['ClusterName']);
  });

  it('keeps pods and namespaces out of the dimensions (one metric per pod would be unbounded)', () => {
    const doc = parse(rescueOutcomeToEmf(base));
    const dims = doc._aws.CloudWatchMetrics.flatMap((d) => d.Dimensions.flat());
    assert.ok(!dims.includes('Pod') && !dims.includes('PodNamespace'));
    assert.equal(doc['Pod'], 'cart-7d9f');
    assert.equal(doc['PodNamespace'], 'shop');
  });

  it('declares stage timings and archive size only when they are known', () => {
    const bare = parse(rescueOutcomeToEmf(base));
    const names = (d: EmfDoc) => d._aws.CloudWatchMetrics[0]?.Metrics.map((m) => m.Name);
    assert.deepEqual(names(bare), ['Rescues', 'RescuesFailed', 'RescueDuration']);
    const full = parse(
      rescueOutcomeToEmf(
        { ...base, checkpointMs: 900, uploadMs: 3_100, archiveBytes: 52_428_800 },
        'Team/Spot',
      ),
    );
    assertValidEmf(full);
    assert.deepEqual(names(full), [
      'Rescues',
      'RescuesFailed',
      'RescueDuration',
      'CheckpointDuration',
      'UploadDuration',
      'ArchiveBytes',
    ]);
    assert.equal(full._aws.CloudWatchMetrics[0]?.Namespace, 'Team/Spot');
    assert.equal(full['ArchiveBytes'], 52_428_800);
    const units = Object.fromEntries(full._aws.CloudWatchMetrics[0]!.Metrics.map((m) => [m.Name, m.Unit]));
    assert.equal(units['ArchiveBytes'], 'Bytes');
    assert.equal(units['UploadDuration'], 'Milliseconds');
  });

  it('rejects an outcome it cannot describe instead of emitting a broken line', () => {
    assert.throws(() => rescueOutcomeToEmf({ ...base, outcome: 'lost' as never }), /outcome/);
    assert.throws(() => rescueOutcomeToEmf({ ...base, durationMs: -1 }), /durationMs/);
  });
});

describe('EMF settings and recorder', () => {
  it('is off by default and writes nothing', () => {
    const config = readConfig(emfSettings, {});
    assert.deepEqual(config, { emfOutput: 'off', emfNamespace: 'SpotRescue' });
    const lines: string[] = [];
    createEmfRecorder(config, (l) => lines.push(l))(base);
    assert.deepEqual(lines, []);
  });

  it('writes one newline-terminated line per outcome when set to stdout', () => {
    const config = readConfig(emfSettings, {
      SPOT_RESCUE_EMF_OUTPUT: 'stdout',
      SPOT_RESCUE_EMF_NAMESPACE: 'Platform/SpotRescue',
    });
    const lines: string[] = [];
    const record = createEmfRecorder(config, (l) => lines.push(l));
    record(base);
    record({ ...base, outcome: 'evicted' });
    assert.equal(lines.length, 2);
    assert.ok(lines.every((l) => l.endsWith('\n')));
    assert.equal(parse(lines[1]!)['Outcome'], 'evicted');
    assert.equal(parse(lines[0]!)._aws.CloudWatchMetrics[0]?.Namespace, 'Platform/SpotRescue');
  });

  it('names the variable when a setting is wrong', () => {
    assert.throws(() => readConfig(emfSettings, { SPOT_RESCUE_EMF_OUTPUT: 'udp' }), /SPOT_RESCUE_EMF_OUTPUT/);
    assert.throws(
      () => readConfig(emfSettings, { SPOT_RESCUE_EMF_NAMESPACE: 'AWS/EC2' }),
      /SPOT_RESCUE_EMF_NAMESPACE.*reserved/,
    );
  });
});
