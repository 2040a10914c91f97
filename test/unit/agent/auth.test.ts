import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CallerAuthenticator, type TokenIdentity, type TokenReviewer } from '../../../services/agent/auth.js';
import { AgentFailure } from '../../../services/agent/errors.js';

const WORKER = 'system:serviceaccount:spot-rescue:worker';

/** Answers like the TokenReview API for a fixed table of tokens, and counts the reviews. */
class TableReviewer implements TokenReviewer {
  calls = 0;
  constructor(private readonly table: Record<string, TokenIdentity>) {}
  async review(token: string, audience: string): Promise<TokenIdentity> {
    this.calls++;
    assert.equal(audience, 'spot-rescue-agent');
    return this.table[token] ?? { authenticated: false, error: 'invalid bearer token' };
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
    worker: { authenticated: true, username: WORKER, audiences: ['spot-rescue-agent'] },
    other: {
      authenticated: true,
      username: 'system:serviceaccount:default:default',
      audiences: ['spot-rescue-agent'],
    },
    wrongAud: { authenticated: true, username: WORKER, audiences: ['https://kubernetes.default.svc'] },
  });
  const auth = new CallerAuthenticator(reviewer, WORKER);

  test('only the worker ServiceAccount gets in', async () => {
    assert.equal(await auth.authenticate('Bearer worker'), WORKER);
    assert.equal(await codeOf(auth.authenticate(undefined)), 'unauthenticated');
    assert.equal(await codeOf(auth.authenticate('Basic d29ya2Vy')), 'unauthenticated');
    assert.equal(await codeOf(auth.authenticate('Bearer nonsense')), 'unauthenticated');
    assert.equal(await codeOf(auth.authenticate('Bearer wrongAud')), 'unauthenticated');
    assert.equal(await codeOf(auth.authenticate('Bearer other')), 'forbidden');
  });

  test('a token is reviewed once within the cache window', async () => {
    const r = new TableReviewer({ worker: { authenticated: true, username: WORKER } });
    const a = new CallerAuthenticator(r, WORKER);
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
      await codeOf(new CallerAuthenticator(down, WORKER).authenticate('Bearer worker')),
      'unauthenticated',
    );
  });
});
