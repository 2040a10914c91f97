import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  kubeletArchivePrefix,
  watchForLateDump,
} from '../../../services/agent/runtimes/kubelet/late-dump-janitor.js';

class FakeFreezer {
  frozen = new Set<string>();
  thaws = 0;
  async isFrozen(id: string) {
    return this.frozen.has(id);
  }
  async thaw(id: string) {
    this.thaws++;
    this.frozen.delete(id);
  }
}

describe('after an abandoned kubelet checkpoint', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'late-dump-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const base = {
    namespace: 'shop',
    pod: 'cart-0',
    container: 'app',
    containerId: 'c1',
    pollMs: 20,
    frozenByAgent: () => false,
  };

  test("removes the archive that lands late, leaves other pods' and older ones, thaws a container the dump left frozen", async () => {
    const since = new Date();
    const older = join(dir, `${kubeletArchivePrefix('shop', 'cart-0', 'app')}2026-11-30T11:00:00Z.tar`);
    await writeFile(older, 'old');
    await utimes(older, new Date(since.getTime() - 60_000), new Date(since.getTime() - 60_000));
    const other = `${kubeletArchivePrefix('shop', 'cart-1', 'app')}2026-11-30T12:00:00Z.tar`;
    await writeFile(join(dir, other), 'other pod');
    const freezer = new FakeFreezer();
    freezer.frozen.add('c1');
    const late = `${kubeletArchivePrefix('shop', 'cart-0', 'app')}2026-11-30T12:00:01Z.tar`;
    setTimeout(() => void writeFile(join(dir, late), 'memory and secrets'), 100);
    const report = await watchForLateDump({ ...base, checkpointsDir: dir, since, windowMs: 5_000 }, freezer);
    assert.deepEqual(report.removed, [late]);
    assert.equal(report.thawed, 1);
    assert.equal(freezer.frozen.size, 0);
    assert.deepEqual((await readdir(dir)).sort(), [older.slice(dir.length + 1), other].sort());
  });

  test("never thaws a container the agent itself froze; gives up at the window's end", async () => {
    const freezer = new FakeFreezer();
    freezer.frozen.add('c1');
    const started = Date.now();
    const report = await watchForLateDump(
      { ...base, checkpointsDir: dir, since: new Date(), windowMs: 150, frozenByAgent: () => true },
      freezer,
    );
    assert.ok(Date.now() - started >= 150);
    assert.deepEqual(report, { removed: [], thawed: 0 });
    assert.equal(freezer.thaws, 0);
  });
});
