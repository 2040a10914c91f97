import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ContainerOperations } from '../../../services/agent/container-operations.js';
import { AgentFailure } from '../../../services/agent/errors.js';

const isConflict = (e: unknown) => e instanceof AgentFailure && e.code === 'conflict' && e.httpStatus === 409;

describe('one operation per container', () => {
  test('a second operation on a busy container is a 409 conflict; a released one is free again', () => {
    const ops = new ContainerOperations();
    const release = ops.acquire(['shop/cart-0/app', 'shop/cart-0/sidecar'], 'checkpoint');
    assert.throws(() => ops.acquire(['shop/cart-0/app'], 'checkpoint'), isConflict);
    assert.throws(() => ops.acquire(['shop/cart-0/sidecar'], 'release'), /a checkpoint is in progress/);
    // Other containers are not held up.
    ops.acquire(['shop/cart-1/app'], 'checkpoint')();
    release();
    release();
    ops.acquire(['shop/cart-0/app'], 'release')();
  });

  test('takes all keys or none', () => {
    const ops = new ContainerOperations();
    const held = ops.acquire(['b'], 'restore');
    assert.throws(() => ops.acquire(['a', 'b'], 'checkpoint'), isConflict);
    ops.acquire(['a'], 'checkpoint')();
    held();
  });

  test('while an abandoned dump may still land, no new checkpoint, but a release may go ahead', async () => {
    const ops = new ContainerOperations();
    let settle = () => {};
    ops.linger('shop/cart-0/app', new Promise<void>((r) => (settle = r)));
    assert.throws(() => ops.acquire(['shop/cart-0/app'], 'checkpoint'), /abandoned checkpoint/);
    ops.acquire(['shop/cart-0/app'], 'release')();
    settle();
    await ops.settled();
    ops.acquire(['shop/cart-0/app'], 'checkpoint')();
  });
});
