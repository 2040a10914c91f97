import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { holdFileLock } from '../../../infra/sim/file-lock.js';

/** Resolves with how long `p` took, or 'pending' if it has not settled within `ms`. */
async function settledWithin<T>(p: Promise<T>, ms: number): Promise<T | 'pending'> {
  return Promise.race([p, new Promise<'pending'>((r) => setTimeout(() => r('pending'), ms))]);
}

describe('holdFileLock: the real nodes shared by test files, through flock(1)', () => {
  let dir: string;
  let path: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'file-lock-'));
    path = join(dir, 'lock');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('shared holders run side by side; an exclusive one waits until every one has released', async () => {
    const a = await holdFileLock(path, 'shared', { waitSeconds: 5 });
    const b = await holdFileLock(path, 'shared', { waitSeconds: 5 });
    const exclusive = holdFileLock(path, 'exclusive', { waitSeconds: 10 });
    assert.equal(await settledWithin(exclusive, 500), 'pending');
    await a.release();
    assert.equal(await settledWithin(exclusive, 500), 'pending', 'one shared holder is left');
    await b.release();
    const held = await settledWithin(exclusive, 3000);
    assert.notEqual(held, 'pending');
    // And while it holds them, a shared bed waits in turn.
    const shared = holdFileLock(path, 'shared', { waitSeconds: 10 });
    assert.equal(await settledWithin(shared, 500), 'pending');
    if (held !== 'pending') await held.release();
    const s = await settledWithin(shared, 3000);
    assert.notEqual(s, 'pending');
    if (s !== 'pending') await s.release();
  });

  test('a holder killed without releasing leaves nothing held', async () => {
    const holder = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '-e',
        `import('${new URL('../../../infra/sim/file-lock.ts', import.meta.url).href}').then(async (m) => { await m.holdFileLock(${JSON.stringify(path)}, 'exclusive', { waitSeconds: 5 }); console.log('held'); setInterval(() => {}, 1000); })`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      await new Promise<void>((r) => holder.stdout.once('data', () => r()));
      const waiting = holdFileLock(path, 'exclusive', { waitSeconds: 10 });
      assert.equal(await settledWithin(waiting, 500), 'pending');
      holder.kill('SIGKILL');
      const got = await settledWithin(waiting, 5000);
      assert.notEqual(got, 'pending', 'the lock went with the killed holder');
      if (got !== 'pending') await got.release();
    } finally {
      holder.kill('SIGKILL');
    }
  });

  test('a lock held past the wait fails with the reason', async () => {
    const held = await holdFileLock(path, 'exclusive', { waitSeconds: 5 });
    try {
      await assert.rejects(
        holdFileLock(path, 'shared', { waitSeconds: 1 }),
        /still held by another run after 1 s/,
      );
    } finally {
      await held.release();
    }
  });
});
