import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseCounterProgress } from '../../../infra/sim/counter-progress.js';

test('the counter progress line reads as numbers by name', () => {
  assert.deepEqual(parseCounterProgress('counter=4812 mib=256 sweeps=3 corrupt=0 pid=77\n'), {
    counter: 4812,
    mib: 256,
    sweeps: 3,
    corrupt: 0,
    pid: 77,
  });
});

test('words that are not name=value are passed over', () => {
  assert.deepEqual(parseCounterProgress('  counter=1   starting  sweeps=0 '), { counter: 1, sweeps: 0 });
});
