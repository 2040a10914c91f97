import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  criuWrapper,
  installCriu,
  mergeCriuConfig,
} from '../../../services/agent/runtimes/kubelet/criu-installer.js';

async function bundle(root: string, version: string): Promise<string> {
  const dir = join(root, `bundle-${version}`);
  await mkdir(join(dir, 'bin'), { recursive: true });
  await mkdir(join(dir, 'lib'), { recursive: true });
  await writeFile(join(dir, 'bin', 'criu'), `#!/bin/sh\necho "Version: ${version}"\n`);
  await chmod(join(dir, 'bin', 'criu'), 0o755);
  await writeFile(join(dir, 'lib', 'libnl-3.so.200'), 'lib');
  return dir;
}

describe('CRIU onto the node (the init container)', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  test("installs into containerd's opt dir with a wrapper and the node options, once", async () => {
    const root = await mkdtemp(join(tmpdir(), 'criu-install-'));
    dirs.push(root);
    const host = join(root, 'host');
    await mkdir(join(host, 'etc', 'criu'), { recursive: true });
    await writeFile(join(host, 'etc', 'criu', 'default.conf'), '# site options\nlog-file /var/log/criu.log');
    const o = {
      bundleDir: await bundle(root, '4.2'),
      hostRoot: host,
      optDir: '/opt/containerd',
      configFile: '/etc/criu/default.conf',
    };
    const first = await installCriu(o);
    assert.deepEqual(first, {
      version: '4.2',
      criu: '/opt/containerd/bin/criu',
      changed: true,
      configWritten: true,
    });
    const wrapper = await readFile(join(host, 'opt/containerd/bin/criu'), 'utf8');
    // Host paths, not the init container's.
    assert.match(wrapper, /exec \/opt\/containerd\/lib\/spot-rescue-criu\/bin\/criu "\$@"/);
    assert.match(wrapper, /LD_LIBRARY_PATH=\/opt\/containerd\/lib\/spot-rescue-criu\/lib/);
    assert.equal(
      await readFile(join(host, 'opt/containerd/lib/spot-rescue-criu/lib/libnl-3.so.200'), 'utf8'),
      'lib',
    );
    assert.equal(
      await readFile(join(host, 'etc/criu/default.conf'), 'utf8'),
      '# site options\nlog-file /var/log/criu.log\ntcp-close\nskip-in-flight\n',
    );
    const again = await installCriu(o);
    assert.equal(again.changed, false);
    assert.equal(again.configWritten, false);
  });

  test('refuses a CRIU older than 4.2 (it cannot dump sockets on Linux 6.16+)', async () => {
    const root = await mkdtemp(join(tmpdir(), 'criu-install-'));
    dirs.push(root);
    await assert.rejects(
      installCriu({
        bundleDir: await bundle(root, '4.1.1'),
        hostRoot: join(root, 'host'),
        optDir: '/opt/containerd',
        configFile: '/etc/criu/default.conf',
      }),
      /4\.1\.1; 4\.2 or later is needed/,
    );
  });

  test('config merge keeps what is there and adds only what is missing', () => {
    assert.deepEqual(mergeCriuConfig('tcp-close\n'), { text: 'tcp-close\nskip-in-flight\n', changed: true });
    assert.equal(mergeCriuConfig('skip-in-flight\ntcp-close\n').changed, false);
    assert.equal(mergeCriuConfig('').text, 'tcp-close\nskip-in-flight\n');
  });

  test('with a bundled loader the wrapper runs CRIU through it', () => {
    assert.equal(
      criuWrapper('/opt/containerd/lib/spot-rescue-criu', 'ld-linux-x86-64.so.2').split('\n')[2],
      'exec /opt/containerd/lib/spot-rescue-criu/lib/ld-linux-x86-64.so.2 --library-path /opt/containerd/lib/spot-rescue-criu/lib /opt/containerd/lib/spot-rescue-criu/bin/criu "$@"',
    );
  });
});
