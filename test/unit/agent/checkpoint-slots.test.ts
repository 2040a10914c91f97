import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CheckpointSlots } from '../../../services/agent/checkpoint-slots.js';
import { AgentFailure } from '../../../services/agent/errors.js';

const settle = () => new Promise((r) => setImmediate(r));

describe('checkpoint slots', () => {
  it('lets `limit` in at once and hands each freed slot to the next in arrival order', async () => {
    const states: string[] = [];
    const slots = new CheckpointSlots(2, (s) => states.push(`${s.active}/${s.waiting}`));
    const signal = new AbortController().signal;
    const a = await slots.acquire(signal);
    const b = await slots.acquire(signal);
    const order: string[] = [];
    const granted = (name: string) => (release: () => void) => {
      order.push(name);
      return release;
    };
    const c = slots.acquire(signal).then(granted('c'));
    const d = slots.acquire(signal).then(granted('d'));
    await settle();
    assert.deepEqual(order, [], 'the third and fourth wait');
    a();
    await settle();
    assert.deepEqual(order, ['c']);
    a();
    await settle();
    assert.deepEqual(order, ['c'], 'releasing twice frees one slot only');
    b();
    await settle();
    assert.deepEqual(order, ['c', 'd']);
    (await c)();
    (await d)();
    assert.equal(states.at(-1), '0/0', 'every slot is free again');
    assert.ok(states.includes('2/2'), `two active and two waiting at the peak: ${states.join(' ')}`);
  });

  it('a wait ends with the deadline, and the abandoned place is not handed a slot', async () => {
    const slots = new CheckpointSlots(1);
    const free = new AbortController().signal;
    const held = await slots.acquire(free);
    const deadline = new AbortController();
    const waiting = slots.acquire(deadline.signal);
    const reason = new AgentFailure('deadline-exceeded', 'deadline passed');
    deadline.abort(reason);
    await assert.rejects(waiting, (err) => err === reason);
    let next = false;
    const after = slots.acquire(free).then((r) => {
      next = true;
      return r;
    });
    await settle();
    assert.equal(next, false, 'the slot is still held');
    held();
    (await after)();
    assert.equal(next, true, 'the slot went to the live waiter, not the abandoned one');
  });

  it('refuses at once when the deadline has already passed', async () => {
    const slots = new CheckpointSlots(1);
    const c = new AbortController();
    c.abort(new AgentFailure('deadline-exceeded', 'gone'));
    await assert.rejects(slots.acquire(c.signal), /gone/);
  });

  it('ranked waiters go lowest rank first, equal ranks in arrival order, unranked after them all', async () => {
    const slots = new CheckpointSlots(1);
    const signal = new AbortController().signal;
    const held = await slots.acquire(signal);
    const order: string[] = [];
    const wait = (name: string, rank?: number[]) =>
      slots.acquire(signal, rank).then((release) => {
        order.push(name);
        release();
      });
    const all = [
      wait('unranked'),
      wait('large', [60_000, 500]),
      wait('small-a', [60_000, 10, 5]),
      wait('small-b', [60_000, 10, 5]),
      wait('small-older', [60_000, 10, 1]),
      wait('earlier-cutoff', [30_000, 900]),
    ];
    await settle();
    held();
    await Promise.all(all);
    assert.deepEqual(order, ['earlier-cutoff', 'small-older', 'small-a', 'small-b', 'large', 'unranked']);
  });
});
