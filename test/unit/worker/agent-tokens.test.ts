import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AgentTokens, type MintedToken, type TokenMinter } from '../../../services/worker/agent-tokens.js';

/** Mints "<audience>#<n>" tokens valid for the lifetime asked, on a clock the test moves. */
class CountingMinter implements TokenMinter {
  mints: { audience: string; expirationSeconds: number }[] = [];
  failNext = false;
  constructor(private readonly clock: { now: number }) {}
  async mint(audience: string, expirationSeconds: number): Promise<MintedToken> {
    this.mints.push({ audience, expirationSeconds });
    if (this.failNext) {
      this.failNext = false;
      throw new Error('the API server is unavailable');
    }
    return {
      token: `${audience}#${this.mints.length}`,
      expiresAt: this.clock.now + expirationSeconds * 1000,
    };
  }
}

function setUp() {
  const clock = { now: 1_000_000 };
  const minter = new CountingMinter(clock);
  const tokens = new AgentTokens(minter, {
    expirationSeconds: 600,
    renewBeforeMs: 120_000,
    now: () => clock.now,
  });
  return { clock, minter, tokens };
}

describe("the worker's per-node agent tokens", () => {
  test("each node's token is minted for that node's audience only", async () => {
    const { minter, tokens } = setUp();
    assert.equal(await tokens.tokenFor('node-a'), 'spot-rescue-agent/node-a#1');
    assert.equal(await tokens.tokenFor('node-b'), 'spot-rescue-agent/node-b#2');
    assert.deepEqual(minter.mints, [
      { audience: 'spot-rescue-agent/node-a', expirationSeconds: 600 },
      { audience: 'spot-rescue-agent/node-b', expirationSeconds: 600 },
    ]);
  });

  test('a token is reused until near its expiry, then replaced', async () => {
    const { clock, minter, tokens } = setUp();
    const first = await tokens.tokenFor('node-a');
    clock.now += 479_000; // 121 s left: still more than the renewal margin
    assert.equal(await tokens.tokenFor('node-a'), first);
    assert.equal(minter.mints.length, 1);
    clock.now += 2_000; // 119 s left
    const second = await tokens.tokenFor('node-a');
    assert.notEqual(second, first);
    assert.equal(minter.mints.length, 2);
    assert.equal(await tokens.tokenFor('node-a'), second);
  });

  test('concurrent calls for one node share one TokenRequest', async () => {
    const { minter, tokens } = setUp();
    const all = await Promise.all([1, 2, 3, 4].map(() => tokens.tokenFor('node-a')));
    assert.equal(new Set(all).size, 1);
    assert.equal(minter.mints.length, 1);
  });

  test('a failed TokenRequest is not remembered: the next call asks again', async () => {
    const { minter, tokens } = setUp();
    minter.failNext = true;
    await assert.rejects(tokens.tokenFor('node-a'), /unavailable/);
    assert.equal(await tokens.tokenFor('node-a'), 'spot-rescue-agent/node-a#2');
  });
});
