/**
 * The `/v1/local/containers` routes stand in for the kubelet on a simulated
 * node: a runc agent has them (behind the worker's authentication), an agent
 * on the production kubelet runtime does not have them at all.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type RunningAgent, startAgent } from '../../../services/agent/service.js';
import { agentSettings } from '../../../services/agent/settings.js';
import { readConfig } from '../../../services/common/config.js';
import { call, createIdentities, type Identities, removeNodeState } from '../../support/agent-bed.js';
import { stackEnv } from '../../support/stack.js';

const LOCAL_ROUTES = [
  {
    method: 'POST',
    path: '/v1/local/containers',
    body: { namespace: 'shop', pod: 'cart-0', podUid: 'u', container: 'app', args: ['sleep', '60'] },
  },
  { method: 'GET', path: '/v1/local/containers/shop/cart-0/app' },
  { method: 'DELETE', path: '/v1/local/containers/shop/cart-0/app' },
] as const;

describe('the /v1/local routes exist on a runc agent only', () => {
  const env = stackEnv();
  const suffix = randomUUID().slice(0, 6);
  const kubeletNode = `it-local-k-${suffix}`;
  const runcNode = `it-local-r-${suffix}`;
  let dir: string;
  let ids: Identities;
  let kubeletAgent: RunningAgent;
  let runcAgent: RunningAgent;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'agent-local-routes-'));
    ids = await createIdentities();
    const common = {
      ...process.env,
      SPOT_RESCUE_AGENT_HOST: '127.0.0.1',
      SPOT_RESCUE_AGENT_PORT: '0',
      SPOT_RESCUE_AGENT_ALLOWED_SA: ids.allowedSa,
      SPOT_RESCUE_STATE_DIR: env.stateDir,
      SPOT_RESCUE_LOG_LEVEL: 'silent',
    };
    // A kubelet agent of a node with no kubelet: every node path is a fresh directory, so its
    // start-up clean-up (raw archives, frozen containers) has nothing of anyone else's to touch.
    const checkpointsDir = join(dir, 'checkpoints');
    await mkdir(checkpointsDir);
    await writeFile(join(dir, 'kubelet-token'), 'unused');
    kubeletAgent = await startAgent(
      readConfig(agentSettings, {
        ...common,
        SPOT_RESCUE_NODE_NAME: kubeletNode,
        SPOT_RESCUE_AGENT_RUNTIME: 'kubelet',
        SPOT_RESCUE_AGENT_HOST_STATE_DIR: join(dir, 'host'),
        SPOT_RESCUE_KUBELET_URL: 'https://127.0.0.1:9',
        SPOT_RESCUE_KUBELET_TOKEN_FILE: join(dir, 'kubelet-token'),
        SPOT_RESCUE_KUBELET_CHECKPOINTS_DIR: checkpointsDir,
        SPOT_RESCUE_CGROUP_ROOT: join(dir, 'cgroup'),
        SPOT_RESCUE_CONTAINERD_CONFIG: join(dir, 'config.toml'),
        SPOT_RESCUE_NODE_CRIU: join(dir, 'no-criu'),
      }),
    );
    runcAgent = await startAgent(
      readConfig(agentSettings, {
        ...common,
        SPOT_RESCUE_NODE_NAME: runcNode,
        SPOT_RESCUE_AGENT_RUNTIME: 'runc',
      }),
    );
  });

  after(async () => {
    await kubeletAgent?.close();
    await runcAgent?.close();
    await removeNodeState(kubeletNode);
    await removeNodeState(runcNode);
    await ids?.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  test('a kubelet-runtime agent answers 404 on them, to the worker as to anyone', async () => {
    const agent = { url: kubeletAgent.url, node: kubeletNode };
    assert.equal((await call(agent, 'GET', '/healthz', undefined)).status, 200);
    for (const r of LOCAL_ROUTES) {
      for (const token of [ids.workerToken, undefined]) {
        const res = await call<{ message?: string }>(
          agent,
          r.method,
          r.path,
          token,
          'body' in r ? r.body : undefined,
        );
        const who = token ? 'the worker' : 'no token';
        assert.equal(res.status, 404, `${r.method} ${r.path} (${who}): ${JSON.stringify(res.body)}`);
        // The router's own 404: no such route, not a container this node does not have.
        assert.match(res.body.message ?? '', /^Route .* not found$/, `${r.method} ${r.path} (${who})`);
      }
    }
  });

  test('a runc agent has them, behind the worker authentication', async () => {
    const agent = { url: runcAgent.url, node: runcNode };
    for (const r of LOCAL_ROUTES) {
      const res = await call(agent, r.method, r.path, undefined, 'body' in r ? r.body : undefined);
      assert.equal(res.status, 401, `${r.method} ${r.path}: ${JSON.stringify(res.body)}`);
    }
  });
});
