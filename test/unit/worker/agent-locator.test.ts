import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StaticAgentLocator } from '../../../services/worker/agent-locator.js';

test('a static agent map locates mapped nodes and says which candidates have an agent', async () => {
  const locator = new StaticAgentLocator({ a: 'http://127.0.0.1:1', b: 'http://127.0.0.1:2' });
  assert.equal(await locator.locate('a'), 'http://127.0.0.1:1');
  assert.equal(await locator.locate('stray'), null);
  assert.deepEqual(await locator.withAgents(['a', 'stray', 'b']), new Set(['a', 'b']));
});

test('a wildcard entry serves every node', async () => {
  const locator = new StaticAgentLocator({ '*': 'http://127.0.0.1:9' });
  assert.equal(await locator.locate('any'), 'http://127.0.0.1:9');
  assert.deepEqual(await locator.withAgents(['x', 'y']), new Set(['x', 'y']));
});
