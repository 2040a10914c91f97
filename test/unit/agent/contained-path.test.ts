import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PathOutsideRoot, realPathWithin, resolveWithin } from '../../../services/agent/contained-path.js';
import { NodeLayout } from '../../../services/agent/node-layout.js';

describe('paths built from names stay inside their root', () => {
  test('names and entries below the root resolve to it', () => {
    assert.equal(resolveWithin('/work', 'checkpoints', 'ck-1', 'app'), '/work/checkpoints/ck-1/app');
    assert.equal(resolveWithin('/work/', 'a/./b'), '/work/a/b');
    assert.equal(resolveWithin('/work', 'a/../b'), '/work/b');
    assert.equal(resolveWithin('/work', '..hidden'), '/work/..hidden');
  });

  test('climbing out, absolute parts, NULs and the root itself are refused with a typed 400', () => {
    for (const parts of [
      ['..'],
      ['../x'],
      ['a', '../../x'],
      ['/etc/x'],
      ['a', '/'],
      ['.'],
      ['a/..'],
      ['a\0b'],
    ]) {
      assert.throws(
        () => resolveWithin('/work', ...parts),
        (err: unknown) =>
          err instanceof PathOutsideRoot && err.httpStatus === 400 && err.code === 'bad-request',
        JSON.stringify(parts),
      );
    }
    // The sibling that shares the root's name as a prefix is outside it too.
    assert.throws(() => resolveWithin('/work', '../work-other/x'), PathOutsideRoot);
  });

  test("a node's layout refuses names that leave their directory", () => {
    const layout = new NodeLayout('/state', 'node-a');
    assert.equal(layout.checkpointDir('ck-1', 'app'), '/state/nodes/node-a/work/checkpoints/ck-1/app');
    assert.throws(() => layout.checkpointDir('ck-1', '../../../../other'), PathOutsideRoot);
    assert.throws(() => layout.checkpointDir('ck-1', '/../../x'), PathOutsideRoot);
    assert.throws(() => layout.checkpointDir('..', 'x'), PathOutsideRoot);
    assert.throws(() => layout.containerDir('shop_p_x/../../../other'), PathOutsideRoot);
    assert.throws(() => layout.restoreDir('../x'), PathOutsideRoot);
    assert.throws(() => new NodeLayout('/state', '../etc'), PathOutsideRoot);
  });

  describe('through links an archive made', () => {
    let dir: string;
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'contained-path-'));
      await mkdir(join(dir, 'rootfs', 'usr', 'lib'), { recursive: true });
      await mkdir(join(dir, 'outside'));
      await symlink(join(dir, 'outside'), join(dir, 'rootfs', 'esc'));
      await symlink('/', join(dir, 'rootfs', 'root'));
      await symlink('usr/lib', join(dir, 'rootfs', 'lib'));
    });
    after(() => rm(dir, { recursive: true, force: true }));

    test('a link that stays inside is followed; one that leaves is refused; the last part is never followed', async () => {
      const rootfs = join(dir, 'rootfs');
      assert.equal(await realPathWithin(rootfs, 'lib/x.so'), join(rootfs, 'usr', 'lib', 'x.so'));
      assert.equal(await realPathWithin(rootfs, 'esc'), join(rootfs, 'esc'));
      await assert.rejects(realPathWithin(rootfs, 'esc/keep'), PathOutsideRoot);
      await assert.rejects(realPathWithin(rootfs, 'root/etc/passwd'), PathOutsideRoot);
      assert.equal(await realPathWithin(rootfs, 'gone/x'), undefined);
    });
  });
});
