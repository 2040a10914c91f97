import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isFinalAttempt, jobOptions, QUEUES } from '../../../services/common/jobs.js';

describe('job options', () => {
  it('every queue retries, with the given id and priority, and keeps finished jobs for a while', () => {
    for (const q of Object.values(QUEUES)) {
      const o = jobOptions(q, 'id-1', 7);
      assert.equal(o.jobId, 'id-1');
      assert.equal(o.priority, 7);
      assert.ok((o.attempts ?? 1) > 1, `${q} retries`);
      assert.ok(o.backoff, `${q} backs off`);
      assert.ok(o.removeOnComplete && o.removeOnFail);
    }
  });

  it('the last attempt is known, so a migration can end with an outcome instead of a throw', () => {
    const attempts = jobOptions(QUEUES.rescue, 'x', 1).attempts ?? 1;
    assert.equal(isFinalAttempt({ attemptsMade: 0, opts: { attempts } }), attempts === 1);
    assert.equal(isFinalAttempt({ attemptsMade: attempts - 1, opts: { attempts } }), true);
    assert.equal(isFinalAttempt({ attemptsMade: 0, opts: {} }), true, 'BullMQ default: one attempt');
  });
});
