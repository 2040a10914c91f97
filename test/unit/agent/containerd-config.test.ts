import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  readContainerdRestoreSetting,
  scanContainerdConfig,
} from '../../../services/agent/runtimes/kubelet/containerd-config.js';

describe("containerd's restore opt-in", () => {
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  test('found as a table key, in either quoting, and ignored anywhere else', () => {
    const table = `version = 3
[plugins."io.containerd.cri.v1.runtime"]
  enable_experimental_restore_via_create = true # opted in
  enable_selinux = false
`;
    assert.equal(scanContainerdConfig(table).restoreViaCreate, true);
    const single = `[plugins.'io.containerd.cri.v1.runtime']\nenable_experimental_restore_via_create = false\n`;
    assert.equal(scanContainerdConfig(single).restoreViaCreate, false);
    const dotted = `[plugins]\n"io.containerd.cri.v1.runtime".enable_experimental_restore_via_create = true\n`;
    assert.equal(scanContainerdConfig(dotted).restoreViaCreate, true);
    const elsewhere = `[plugins."io.containerd.cri.v1.images"]\nenable_experimental_restore_via_create = true\n# [plugins."io.containerd.cri.v1.runtime"] enable_experimental_restore_via_create = true\n`;
    assert.equal(scanContainerdConfig(elsewhere).restoreViaCreate, undefined);
    const subtable = `[plugins."io.containerd.cri.v1.runtime".containerd]\nenable_experimental_restore_via_create = true\n`;
    assert.equal(scanContainerdConfig(subtable).restoreViaCreate, undefined);
  });

  test('reads the imports (drop-ins) the main file names, the last one winning', async () => {
    const root = await mkdtemp(join(tmpdir(), 'containerd-config-'));
    dirs.push(root);
    await mkdir(join(root, 'config.d'));
    await writeFile(
      join(root, 'config.toml'),
      `version = 3\nimports = [\n  "${root}/config.d/*.toml",\n]\n[plugins."io.containerd.cri.v1.runtime"]\nenable_experimental_restore_via_create = false\n`,
    );
    await writeFile(
      join(root, 'config.d', '10-spot-rescue.toml'),
      `[plugins."io.containerd.cri.v1.runtime"]\nenable_experimental_restore_via_create = true\n`,
    );
    await writeFile(join(root, 'config.d', 'notes.txt'), 'enable_experimental_restore_via_create = false');
    const s = await readContainerdRestoreSetting(join(root, 'config.toml'));
    assert.equal(s?.enabled, true);
    assert.match(s!.source, /10-spot-rescue\.toml/);
  });

  test('absent when the config is not mounted; false when it does not set the key', async () => {
    const root = await mkdtemp(join(tmpdir(), 'containerd-config-'));
    dirs.push(root);
    assert.equal(await readContainerdRestoreSetting(join(root, 'missing.toml')), undefined);
    await writeFile(join(root, 'config.toml'), 'version = 3\n');
    assert.deepEqual(await readContainerdRestoreSetting(join(root, 'config.toml')), {
      enabled: false,
      source: join(root, 'config.toml'),
    });
  });
});
