import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Semaphore } from '../../../services/common/semaphore.js';

describe('semaphore run', () => {
  it('runs at most `limit` tasks at once, the rest in arrival order, and passes on a failed task’s turn', async () => {
    const s = new Semaphore(2);
    let running = 0;
    let most = 0;
    const order: number[] = [];
    const task = (i: number) => async () => {
      running++;
      most = Math.max(most, running);
      order.push(i);
      await new Promise((r) => setImmediate(r));
      running--;
      if (i === 1) throw new Error('task 1 fails');
      return i;
    };
    const results = await Promise.allSettled([0, 1, 2, 3, 4, 5].map((i) => s.run(task(i))));
    assert.equal(most, 2);
    assert.deepEqual(order, [0, 1, 2, 3, 4, 5]);
    assert.deepEqual(
      results.map((r) => (r.status === 'fulfilled' ? r.value : 'failed')),
      [0, 'failed', 2, 3, 4, 5],
    );
  });
});
