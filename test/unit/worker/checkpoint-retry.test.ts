import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AgentCallError } from '../../../services/worker/agent-client.js';
import {
  type CheckpointRetryInput,
  nextCheckpointTry,
  retryableCheckpointFailure,
} from '../../../services/worker/checkpoint-retry.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');

/** A failure 5 s into a 2-minute warning: a 2 s checkpoint, a cut-off 30 s before the deadline. */
function input(over: Partial<CheckpointRetryInput> = {}): CheckpointRetryInput {
  return {
    failures: 1,
    now: T0,
    firstFailureAt: T0,
    checkpointBy: T0 + 85_000,
    neededMs: 2000,
    maxRetryMs: 30_000,
    ...over,
  };
}

describe('retryableCheckpointFailure', () => {
  it('retries what may pass: agent unreachable, an S3 error it surfaced, other 5xx', () => {
    assert.ok(retryableCheckpointFailure(new AgentCallError('unreachable', 'connect ECONNREFUSED')));
    assert.ok(retryableCheckpointFailure(new AgentCallError('unreachable', 'socket hang up')));
    assert.ok(retryableCheckpointFailure(new AgentCallError('storage-failed', 'S3 503 SlowDown', 502)));
    assert.ok(retryableCheckpointFailure(new AgentCallError('runtime-failed', 'criu dump failed', 500)));
    assert.ok(retryableCheckpointFailure(new AgentCallError('bad-response', 'proxy said 503', 503)));
  });

  it('does not retry an answer that will not change, the cut-off, nor a 409', () => {
    assert.ok(!retryableCheckpointFailure(new AgentCallError('deadline-exceeded', 'late', 504)));
    assert.ok(!retryableCheckpointFailure(new AgentCallError('aborted', 'cut-off reached')));
    assert.ok(!retryableCheckpointFailure(new AgentCallError('conflict', 'a checkpoint is running', 409)));
    assert.ok(!retryableCheckpointFailure(new AgentCallError('unsupported', 'no CRIU', 422)));
    assert.ok(!retryableCheckpointFailure(new AgentCallError('not-found', 'no such container', 404)));
    assert.ok(!retryableCheckpointFailure(new AgentCallError('no-agent', 'no agent on the node')));
    assert.ok(!retryableCheckpointFailure(new Error('manifest missing')));
  });
});

describe('nextCheckpointTry', () => {
  it('backs off exponentially from 0.5 s, capped at 4 s', () => {
    const delays = [1, 2, 3, 4, 5, 6].map((failures) => nextCheckpointTry(input({ failures })));
    assert.deepEqual(delays, [
      { retryInMs: 500 },
      { retryInMs: 1000 },
      { retryInMs: 2000 },
      { retryInMs: 4000 },
      { retryInMs: 4000 },
      { retryInMs: 4000 },
    ]);
  });

  it('a 2 s agent restart is ridden out: the tries over its first seconds keep coming', () => {
    let now = T0;
    const waits: number[] = [];
    for (let failures = 1; now - T0 < 2000; failures++) {
      const next = nextCheckpointTry(input({ failures, now }));
      assert.ok('retryInMs' in next, JSON.stringify(next));
      waits.push(next.retryInMs);
      now += next.retryInMs;
    }
    assert.deepEqual(waits, [500, 1000, 2000]);
  });

  it('gives up when a whole checkpoint no longer fits before the cut-off after the wait', () => {
    const fits = nextCheckpointTry(input({ now: T0 + 82_000, firstFailureAt: T0 + 80_000 }));
    assert.deepEqual(fits, { retryInMs: 500 });
    const late = nextCheckpointTry(input({ now: T0 + 83_000, firstFailureAt: T0 + 80_000 }));
    assert.ok('giveUp' in late);
    assert.match(late.giveUp, /no time for another checkpoint/);
  });

  it('a large pod whose checkpoint needs most of what is left is not retried', () => {
    const next = nextCheckpointTry(input({ neededMs: 84_800 }));
    assert.ok('giveUp' in next);
  });

  it('gives up once the retry window is used up, however much time is left', () => {
    const inWindow = nextCheckpointTry(input({ failures: 9, now: T0 + 26_000 }));
    assert.deepEqual(inWindow, { retryInMs: 4000 });
    const past = nextCheckpointTry(input({ failures: 10, now: T0 + 27_000 }));
    assert.ok('giveUp' in past);
    assert.match(past.giveUp, /still failing after 27 s/);
  });

  it('a window of 0 turns retries off', () => {
    assert.ok('giveUp' in nextCheckpointTry(input({ maxRetryMs: 0 })));
  });
});
