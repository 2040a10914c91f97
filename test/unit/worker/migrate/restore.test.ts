import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RestoreRequest } from '../../../../services/common/agent-api.js';
import { AgentCallError, type AgentClient } from '../../../../services/worker/agent-client.js';
import { restoreOnce } from '../../../../services/worker/migrate/restore.js';

const req: RestoreRequest = {
  manifest: { bucket: 'b', key: 'k/manifest.json' },
  archives: [],
  target: { namespace: 'shop', pod: 'cart-0-r1a2b3' },
  deadline: new Date(0).toISOString(),
};

/** An agent whose restore answers with this error. */
function refusing(err: Error): AgentClient {
  return {
    restore: async () => {
      throw err;
    },
  } as unknown as AgentClient;
}

describe('a restore asked again', () => {
  it('is done when the agent answers already-exists, whatever its message says', async () => {
    const agents = refusing(new AgentCallError('already-exists', 'agent on n2: container busy', 409));
    const r = await restoreOnce(agents, 'n2', req, AbortSignal.timeout(1000));
    assert.deepEqual(r, { runtime: 'runc', node: 'n2', containers: [] });
  });

  it('fails on another code, even when its message reads "already exists"', async () => {
    const err = new AgentCallError('bad-request', 'agent on n2: the label already exists', 400);
    await assert.rejects(restoreOnce(refusing(err), 'n2', req, AbortSignal.timeout(1000)), err);
  });
});
