import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, test } from 'node:test';
import { deadlineSignal } from '../../../services/agent/deadline.js';
import { AgentFailure, asAgentFailure } from '../../../services/agent/errors.js';
import { MeasuringStream } from '../../../services/agent/measuring-stream.js';

describe('measuring stream', () => {
  test('passes bytes through unchanged while counting and hashing them', async () => {
    const chunks = [randomBytes(1000), randomBytes(65_536), randomBytes(7)];
    const m = new MeasuringStream({ sha256: true });
    const out: Buffer[] = [];
    await pipeline(
      Readable.from(chunks),
      m,
      new Writable({
        write(c: Buffer, _e, cb) {
          out.push(c);
          cb();
        },
      }),
    );
    const all = Buffer.concat(chunks);
    assert.deepEqual(Buffer.concat(out), all);
    assert.equal(m.bytes, all.length);
    assert.equal(m.sha256(), createHash('sha256').update(all).digest('hex'));
  });

  test('refuses to give a digest before the stream ended', () => {
    const m = new MeasuringStream({ sha256: true });
    m.write(Buffer.from('abc'));
    assert.throws(() => m.sha256(), /before the stream ended/);
  });
});

describe('deadline signal', () => {
  test('a deadline in the past is aborted at once, with deadline-exceeded', () => {
    const d = deadlineSignal('2020-01-01T00:00:00Z');
    assert.equal(d.signal.aborted, true);
    assert.ok(d.signal.reason instanceof AgentFailure);
    assert.equal((d.signal.reason as AgentFailure).code, 'deadline-exceeded');
  });

  test('a future deadline fires when it passes', async () => {
    const d = deadlineSignal(new Date(Date.now() + 30).toISOString());
    assert.equal(d.signal.aborted, false);
    // The agent's timer is unref'd (it never holds the process open), so the test keeps the loop alive.
    await new Promise((resolve) => setTimeout(resolve, 80));
    assert.equal(d.signal.aborted, true);
    assert.equal((d.signal.reason as AgentFailure).code, 'deadline-exceeded');
  });

  test('no deadline never fires; dispose stops the timer', () => {
    assert.equal(deadlineSignal(undefined).signal.aborted, false);
    const d = deadlineSignal(new Date(Date.now() + 60_000).toISOString());
    d.dispose();
    assert.equal(d.signal.aborted, false);
  });

  test('once the deadline fired, any stage error reads as deadline-exceeded', () => {
    const d = deadlineSignal('2020-01-01T00:00:00Z');
    const f = asAgentFailure(new Error('socket hang up'), d.signal, 'storage-failed');
    assert.equal(f.code, 'deadline-exceeded');
    assert.equal(f.httpStatus, 504);
    const g = asAgentFailure(new Error('socket hang up'), new AbortController().signal, 'storage-failed');
    assert.equal(g.code, 'storage-failed');
    assert.equal(g.httpStatus, 502);
  });
});
