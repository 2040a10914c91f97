import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CallerAuthenticator, type TokenIdentity, type TokenReviewer } from '../../../services/agent/auth.js';
import { AgentFailure } from '../../../services/agent/errors.js';
import { agentTokenAudience } from '../../../services/common/agent-api.js';

const WORKER = 'system:serviceaccount:spot-rescue:worker';
const NODE_A = agentTokenAudience('node-a');

/**
 * Answers like the TokenReview API for a fixed table of tokens, each minted
 * for some audiences: a token is authenticated only for a review that asks
 * for one of them, and the answer names the shared ones. Counts the reviews.
 */
class TableReviewer implements TokenReviewer {
  calls = 0;
  asked: string[] = [];
  constructor(private readonly table: Record<string, { username: string; audiences: string[] }>) {}
  async review(token: string, audience: string): Promise<TokenIdentity> {
    this.calls++;
    this.asked.push(audience);
    const t = this.table[token];
    if (!t) return { authenticated: false, error: 'invalid bearer token' };
    if (!t.audiences.includes(audience)) return { authenticated: false, error: 'token audiences is invalid' };
    return { authenticated: true, username: t.username, audiences: [audience] };
  }
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    assert.ok(err instanceof AgentFailure);
    return err.code;
  }
}

describe('caller authentication', () => {
  const reviewer = new TableReviewer({
    worker: { username: WORKER, audiences: [NODE_A] },
    other: { username: 'system:serviceaccount:default:default', audiences: [NODE_A] },
    wrongAud: { username: WORKER, audiences: ['https://kubernetes.default.svc'] },
    nodeB: { username: WORKER, audiences: [agentTokenAudience('node-b')] },
    shared: { username: WORKER, audiences: ['spot-rescue-agent'] },
  });
  const auth = new CallerAuthenticator(reviewer, WORKER, NODE_A);

  test('only the worker ServiceAccount gets in, with a token for this node', async () => {
    assert.equal(await auth.authenticate('Bearer worker'), WORKER);
    assert.equal(await codeOf(auth.authenticate(undefined)), 'unauthenticated');
    assert.equal(await codeOf(auth.authenticate('Basic d29ya2Vy')), 'unauthenticated');
    assert.equal(await codeOf(auth.authenticate('Bearer nonsense')), 'unauthenticated');
    assert.equal(await codeOf(auth.authenticate('Bearer wrongAud')), 'unauthenticated');
    assert.equal(await codeOf(auth.authenticate('Bearer other')), 'forbidden');
  });

  test("the worker's token for another node, or for the shared audience, is refused", async () => {
    assert.equal(await codeOf(auth.authenticate('Bearer nodeB')), 'unauthenticated');
    assert.equal(await codeOf(auth.authenticate('Bearer shared')), 'unauthenticated');
    assert.ok(
      reviewer.asked.every((a) => a === 'spot-rescue-agent/node-a'),
      'reviews ask for this node only',
    );
  });

  test('a review that names no audience is not taken for this node', async () => {
    const vague: TokenReviewer = { review: async () => ({ authenticated: true, username: WORKER }) };
    assert.equal(
      await codeOf(new CallerAuthenticator(vague, WORKER, NODE_A).authenticate('Bearer worker')),
      'unauthenticated',
    );
  });

  test('a token is reviewed once within the cache window', async () => {
    const r = new TableReviewer({ worker: { username: WORKER, audiences: [NODE_A] } });
    const a = new CallerAuthenticator(r, WORKER, NODE_A);
    await a.authenticate('Bearer worker');
    await a.authenticate('Bearer worker');
    assert.equal(r.calls, 1);
  });

  test('an unreachable API server means unauthenticated, never a pass', async () => {
    const down: TokenReviewer = {
      review: async () => {
        throw new Error('connect ECONNREFUSED');
      },
    };
    assert.equal(
      await codeOf(new CallerAuthenticator(down, WORKER, NODE_A).authenticate('Bearer worker')),
      'unauthenticated',
    );
  });
});
