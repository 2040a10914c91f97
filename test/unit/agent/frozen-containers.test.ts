import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  containerKey,
  FrozenContainers,
} from '../../../services/agent/runtimes/kubelet/frozen-containers.js';
import { uidFor } from '../../support/kube-uid.js';

const record = {
  namespace: 'shop',
  pod: 'cart-0',
  podUid: uidFor('uid-1'),
  container: 'app',
  containerId: 'a'.repeat(64),
  checkpointId: 'cp-1',
  frozenAt: '2026-11-30T12:00:00.000Z',
};

describe('frozen containers kept on the node', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  test('a restarted agent reads back what it froze; removals persist', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'frozen-'));
    dirs.push(dir);
    const file = join(dir, 'node', 'frozen-containers.json');
    const first = new FrozenContainers(file);
    assert.deepEqual(await first.load(), {});
    await first.add(record);
    await first.add({ ...record, container: 'sidecar', containerId: 'b'.repeat(64) });
    await first.remove(containerKey(record));
    const second = new FrozenContainers(file);
    assert.deepEqual(await second.load(), {});
    assert.deepEqual(
      second.list().map((f) => f.container),
      ['sidecar'],
    );
  });

  test('a corrupt or foreign file is reported, not trusted', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'frozen-'));
    dirs.push(dir);
    const file = join(dir, 'frozen-containers.json');
    await writeFile(file, '{"version":1,"frozen":[{"containerId":"../../etc"}]}');
    const f = new FrozenContainers(file);
    assert.match((await f.load()).problem!, /not a frozen-containers file/);
    assert.deepEqual(f.list(), []);
    await writeFile(file, 'not json');
    assert.match((await new FrozenContainers(file).load()).problem!, /not JSON/);
    // A container id that is not one never gets recorded (it names a cgroup path).
    await assert.rejects(f.add({ ...record, containerId: '../x' }));
    assert.equal(await readFile(file, 'utf8'), 'not json');
  });
});
