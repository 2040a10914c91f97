import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isNodeOfCluster } from '../../../infra/sim/rescue-demo-setup.js';

test('a cluster owns the nodes createSimNodes names for it, and no other', () => {
  assert.ok(isNodeOfCluster('demo-0', 'demo'));
  assert.ok(isNodeOfCluster('demo-12', 'demo'));
  // Another simulated cluster whose name starts the same (a test's, a benchmark's) is not cleared with the demo's.
  assert.ok(!isNodeOfCluster('demo-x-0', 'demo'));
  assert.ok(!isNodeOfCluster('demo-', 'demo'));
  assert.ok(!isNodeOfCluster('demo', 'demo'));
  assert.ok(!isNodeOfCluster('real-a', 'demo'));
  assert.ok(isNodeOfCluster('dashboard-3', 'dashboard'));
});
