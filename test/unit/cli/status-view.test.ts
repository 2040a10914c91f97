import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { effectiveSettings, redact } from '../../../services/cli/config-command.js';
import { formatStatus, type RawJob, statusReport } from '../../../services/cli/status-view.js';
import { ConfigError } from '../../../services/common/config.js';
import { listenerSettings } from '../../../services/listener/settings.js';
import { uidFor } from '../../support/kube-uid.js';

const NOW = Date.parse('2026-09-01T12:01:00Z');
const data = (pod: string, node = 'node-a') => ({
  event: {
    id: 'e-1',
    kind: 'spot-interruption',
    deadline: '2026-09-01T12:02:00.000Z',
    receivedAt: '2026-09-01T12:00:05.000Z',
    eventTime: '2026-09-01T12:00:00.000Z',
  },
  node: { name: node, instanceId: 'i-0abc123def4567890' },
  pod: { namespace: 'shop', name: pod, uid: uidFor(pod) },
  deadline: '2026-09-01T12:02:00.000Z',
});
const job = (over: Partial<RawJob>): RawJob => ({
  id: 'j',
  name: 'migrate-pod',
  state: 'active',
  data: data('cart'),
  progress: {},
  returnvalue: null,
  failedReason: undefined,
  timestamp: NOW - 50_000,
  processedOn: undefined,
  finishedOn: undefined,
  attemptsMade: 0,
  ...over,
});

describe('spot-rescue status, from the jobs in Redis', () => {
  it('in flight: per node and pod, the stage and target the worker saved, and the time left', () => {
    const r = statusReport(
      [
        job({ progress: { stage: 'checkpointed', target: 'node-b' } }),
        job({ id: 'w', state: 'prioritized', data: data('db') }),
        job({ id: 'e', name: 'evict-pod', state: 'waiting', data: data('log', 'node-c') }),
      ],
      NOW,
      10,
    );
    assert.deepEqual(
      r.inFlight.map((f) => [f.node, f.pod, f.job, f.stage, f.target, f.secondsLeft]),
      [
        ['node-a', 'shop/cart', 'migrate', 'checkpointed', 'node-b', 60],
        ['node-a', 'shop/db', 'migrate', 'queued', null, 60],
        ['node-c', 'shop/log', 'evict', 'evicting', null, 60],
      ],
    );
    const text = formatStatus(r);
    assert.match(
      text,
      /node node-a \(spot-interruption\)\n {4}shop\/cart {2}migrate {2}checkpointed -> node-b {2}60 s left/,
    );
  });

  it('finished: newest first, with outcome, target and time from receipt; failed jobs say why', () => {
    const r = statusReport(
      [
        job({
          state: 'completed',
          finishedOn: NOW - 10_000,
          returnvalue: { outcome: 'restored', target: 'node-b' },
        }),
        job({
          id: 'f',
          state: 'failed',
          data: data('db'),
          finishedOn: NOW - 5_000,
          failedReason: 'agent down',
        }),
        job({
          id: 'x',
          state: 'completed',
          data: data('old'),
          finishedOn: NOW - 90_000,
          returnvalue: { outcome: 'evicted' },
        }),
      ],
      NOW,
      2,
    );
    assert.deepEqual(
      r.recent.map((f) => [f.pod, f.outcome, f.target, f.reason, f.seconds]),
      [
        ['shop/db', 'failed', null, 'agent down', 50],
        ['shop/cart', 'restored', 'node-b', null, 45],
      ],
    );
  });

  it('nothing read from Redis is trusted: a job that does not validate is listed as unreadable, not shown', () => {
    const bad = job({ id: 'evil', data: { pod: { name: 'x' } }, progress: { stage: 'pwned', target: 42 } });
    const odd = job({ id: 'odd', progress: { stage: 'pwned' } });
    const r = statusReport([bad, odd], NOW, 10);
    assert.deepEqual(
      r.unreadable.map((u) => u.id),
      ['evil'],
    );
    assert.equal(r.inFlight.length, 1);
    assert.equal(r.inFlight[0]!.stage, 'started', 'an invalid progress is ignored, not shown');
    assert.match(formatStatus(r), /1 job\(s\) in Redis did not validate/);
  });

  it('nothing at all', () => {
    assert.equal(
      formatStatus(statusReport([], NOW, 10)),
      'No rescue in flight.\n\nNo finished rescue in Redis.\n',
    );
  });
});

describe('spot-rescue config', () => {
  const env = {
    SPOT_RESCUE_QUEUE_URL: 'http://q',
    SPOT_RESCUE_DLQ_URL: 'http://d',
    SPOT_RESCUE_JOB_SIGNING_KEY_FILE: 'key',
  };

  it('each setting with its value and where it comes from', () => {
    const rows = effectiveSettings(listenerSettings, { ...env, SPOT_RESCUE_LISTENER_POLLERS: '7' });
    const by = new Map(rows.map((r) => [r.env, r]));
    assert.deepEqual(
      [by.get('SPOT_RESCUE_LISTENER_POLLERS')?.value, by.get('SPOT_RESCUE_LISTENER_POLLERS')?.source],
      ['7', 'environment'],
    );
    assert.deepEqual(
      [by.get('SPOT_RESCUE_REBALANCE_POLICY')?.value, by.get('SPOT_RESCUE_REBALANCE_POLICY')?.source],
      ['cordon', 'default'],
    );
    assert.equal(by.get('SPOT_RESCUE_AWS_ENDPOINT')?.source, 'unset');
    assert.equal(rows.length, Object.keys(listenerSettings).length);
  });

  it('fails naming every required setting that is missing', () => {
    assert.throws(
      () => effectiveSettings(listenerSettings, {}),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.problems.length === 3 &&
        e.problems.every((p) =>
          /^SPOT_RESCUE_(QUEUE_URL|DLQ_URL|JOB_SIGNING_KEY_FILE): required, not set/.test(p),
        ),
    );
  });

  it('never prints a password', () => {
    assert.equal(redact('rediss://:s3cret@master.x:6379'), 'rediss://:***@master.x:6379');
    assert.equal(redact('redis://user:pw@h:6379/0'), 'redis://user:***@h:6379/0');
    assert.equal(redact('redis://h:6379'), 'redis://h:6379');
    const rows = effectiveSettings(listenerSettings, { ...env, SPOT_RESCUE_REDIS_URL: 'redis://:pw@h:6379' });
    assert.ok(!JSON.stringify(rows).includes(':pw@'));
  });
});
