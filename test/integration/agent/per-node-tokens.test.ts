/**
 * The worker's tokens towards the agents, against the real API server
 * (TokenRequest mints them, each agent's TokenReview checks them): a token is
 * good for one node's agent only, the audience every agent once shared opens
 * none, and the worker reuses a node's token until it is nearly expired.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { CoreV1Api } from '@kubernetes/client-node';
import type { RunningAgent } from '../../../services/agent/service.js';
import { loadKubeConfig } from '../../../services/common/kube.js';
import { HttpAgentClient } from '../../../services/worker/agent-client.js';
import { StaticAgentLocator } from '../../../services/worker/agent-locator.js';
import {
  AgentTokens,
  KubeTokenMinter,
  type MintedToken,
  type TokenMinter,
} from '../../../services/worker/agent-tokens.js';
import { agentTokens } from '../../../services/worker/agent-trust.js';
import { createIdentities, type Identities, startInProcessAgent } from '../../support/agent-bed.js';
import { stackEnv } from '../../support/stack.js';

describe('per-node agent tokens (TokenRequest and TokenReview of the real API server)', () => {
  const env = stackEnv();
  const core = loadKubeConfig(env.kubeconfig).makeApiClient(CoreV1Api);
  const suffix = randomUUID().slice(0, 6);
  const nodeA = `it-tok-a-${suffix}`;
  const nodeB = `it-tok-b-${suffix}`;
  let ids: Identities;
  const agents: Record<string, RunningAgent> = {};

  before(async () => {
    ids = await createIdentities();
    for (const node of [nodeA, nodeB]) agents[node] = await startInProcessAgent(node, ids.allowedSa);
  });

  after(async () => {
    for (const a of Object.values(agents)) await a.close();
    await ids?.cleanup();
  });

  /** The worker's own tokens, built as the worker service builds them. */
  const workerTokens = () =>
    agentTokens(core, { serviceAccount: ids.allowedSa, agentTokenExpirationSeconds: 600 });

  async function post(node: string, path: string, token: string | undefined, body: string) {
    const res = await fetch(`${agents[node]!.url}${path}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body,
    });
    return { status: res.status, body: (await res.json()) as { error?: string } };
  }
  const capabilities = async (node: string, token: string) =>
    (
      await fetch(`${agents[node]!.url}/v1/capabilities`, {
        headers: { authorization: `Bearer ${token}` },
      })
    ).status;

  test("the worker's client reaches each agent with that node's own token", async () => {
    const client = new HttpAgentClient({
      locator: new StaticAgentLocator({ [nodeA]: agents[nodeA]!.url, [nodeB]: agents[nodeB]!.url }),
      tokens: workerTokens(),
    });
    for (const node of [nodeA, nodeB]) {
      const caps = await client.capabilities(node, AbortSignal.timeout(30_000));
      assert.equal(caps.node, node);
    }
  });

  test("a token minted for node A's agent is refused by node B's agent, and the other way round", async () => {
    const tokens = workerTokens();
    const forA = await tokens.tokenFor(nodeA);
    const forB = await tokens.tokenFor(nodeB);
    assert.equal(await capabilities(nodeA, forA), 200);
    assert.equal(await capabilities(nodeB, forA), 401);
    assert.equal(await capabilities(nodeB, forB), 200);
    assert.equal(await capabilities(nodeA, forB), 401);
  });

  test('the audience every agent once shared opens neither agent', async () => {
    for (const node of [nodeA, nodeB]) assert.equal(await capabilities(node, ids.sharedAudienceToken), 401);
  });

  test("another ServiceAccount's token for the right node is forbidden", async () => {
    assert.equal(await capabilities(nodeA, await ids.strangerToken(nodeA)), 403);
  });

  test('a caller is authenticated before its body is parsed', async () => {
    const forA = await workerTokens().tokenFor(nodeA);
    const forB = await workerTokens().tokenFor(nodeB);
    const garbage = '{"namespace": "x", this is not JSON';
    for (const token of [undefined, forB]) {
      const r = await post(nodeA, '/v1/checkpoints', token, garbage);
      assert.equal(r.status, 401, `token ${token ? 'for B' : 'none'}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error, 'unauthenticated');
    }
    const r = await post(nodeA, '/v1/checkpoints', forA, garbage);
    assert.equal(r.status, 400, 'the right caller gets to the parser');
  });

  test('the worker reuses a node token until it is near expiry, then mints a fresh one', async () => {
    const minted: MintedToken[] = [];
    const real = new KubeTokenMinter(core, { namespace: ids.namespace, name: 'worker' });
    const counting: TokenMinter = {
      mint: async (audience, seconds) => {
        const t = await real.mint(audience, seconds);
        minted.push(t);
        return t;
      },
    };
    let skew = 0;
    const tokens = new AgentTokens(counting, {
      expirationSeconds: 600,
      renewBeforeMs: 120_000,
      now: () => Date.now() + skew,
    });
    const first = await tokens.tokenFor(nodeA);
    assert.equal(await tokens.tokenFor(nodeA), first);
    assert.equal(minted.length, 1);
    // The API server's own expiry: about the ten minutes asked for.
    const lifetime = minted[0]!.expiresAt - Date.now();
    assert.ok(lifetime > 500_000 && lifetime <= 600_000, `expires in ${lifetime} ms`);

    skew = minted[0]!.expiresAt - Date.now() - 121_000; // a little more than the margin left
    assert.equal(await tokens.tokenFor(nodeA), first);
    assert.equal(minted.length, 1);
    skew += 2_000; // now within the margin
    const second = await tokens.tokenFor(nodeA);
    assert.equal(minted.length, 2);
    assert.notEqual(second, first);
    assert.equal(await capabilities(nodeA, second), 200);
    assert.equal(await capabilities(nodeB, second), 401);
  });
});
