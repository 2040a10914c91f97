import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NodeCapabilities } from '../../../../services/common/agent-api.js';
import { createLogger } from '../../../../services/common/logger.js';
import { AgentCallError } from '../../../../services/worker/agent-client.js';
import {
  cannotCheckpoint,
  cannotRestore,
  NodeCapabilityCache,
} from '../../../../services/worker/migrate/capabilities.js';

function caps(checkpoint: boolean, restore: boolean): NodeCapabilities {
  return {
    node: 'n',
    runtime: { name: 'containerd', version: '2.1.0' },
    criu: { found: checkpoint || restore },
    checkpoint: checkpoint ? { ok: true } : { ok: false, reason: 'criu not found' },
    restore: restore ? { ok: true } : { ok: false, reason: 'restore disabled' },
    checkedAt: new Date(0).toISOString(),
  };
}

describe('node capabilities', () => {
  it('say what a node cannot do, and nothing when unknown', () => {
    assert.equal(cannotCheckpoint(caps(true, true)), null);
    assert.equal(cannotCheckpoint(null), null);
    assert.match(cannotCheckpoint(caps(false, true)) ?? '', /cannot checkpoint: criu not found/);
    assert.equal(cannotRestore(caps(false, true)), null);
    assert.match(cannotRestore(caps(true, false)) ?? '', /cannot restore: restore disabled/);
  });

  it('are asked once per node while fresh; an agent without the call (404) counts as unknown', async () => {
    let t = 0;
    const asked: string[] = [];
    const cache = new NodeCapabilityCache(
      {
        async capabilities(node) {
          asked.push(node);
          if (node === 'old') throw new AgentCallError('not-found', 'no such route', 404);
          if (node === 'down') throw new AgentCallError('unreachable', 'connection refused');
          return caps(true, node !== 'norestore');
        },
      },
      createLogger('test', 'silent'),
      1000,
      () => t,
    );
    const refusals = await cache.restoreRefusals(['ok', 'norestore', 'old', 'down']);
    assert.deepEqual([...refusals.keys()], ['norestore']);
    await cache.restoreRefusals(['ok', 'norestore', 'old', 'down']);
    // An unreachable agent is asked again (it may be starting); the others are cached.
    assert.deepEqual(asked.sort(), ['down', 'down', 'norestore', 'ok', 'old'].sort());
    t = 2000;
    await cache.get('ok');
    assert.equal(asked.filter((n) => n === 'ok').length, 2, 'asked again once stale');
  });
});
