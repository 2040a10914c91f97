import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { AgentFailure } from '../../../services/agent/errors.js';
import {
  CommandImporter,
  ContainerdImporter,
  ContainersStorageImporter,
  commandArgs,
  OciDirImporter,
} from '../../../services/agent/runtimes/kubelet/image-importer.js';
import { importerFor } from '../../../services/agent/runtimes/kubelet/image-importer-factory.js';

const settings = {
  importer: 'auto',
  ctr: '/usr/local/bin/ctr',
  containerdSocket: '/run/containerd/containerd.sock',
  containerdNamespace: 'k8s.io',
  skopeo: 'skopeo',
  tarBin: 'tar',
  imagesDir: '/var/lib/spot-rescue/images',
};

/** The command line an importer runs, read through the same template expansion it uses. */
function argsOf(importer: unknown): string[] {
  const template = (importer as { template: string | string[] }).template;
  return commandArgs(template, { archive: '/work/img.oci.tar', ref: 'localhost/spot-rescue/checkpoint:t' });
}

describe('checkpoint image importer per node runtime', () => {
  test('the containerd importer streams the oci-archive into ctr (stdin), never writing it to disk', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'importer-'));
    try {
      const layout = join(dir, 'image');
      await mkdir(join(layout, 'blobs', 'sha256'), { recursive: true });
      await writeFile(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
      await writeFile(join(layout, 'index.json'), '{}');
      const listing = join(dir, 'listing');
      // Stands in for ctr: lists the archive it reads on stdin.
      const importer = new CommandImporter(['sh', '-c', 'tar -tf - > "$0"', listing], 'tar', true);
      assert.equal(await importer.import(layout, 'localhost/x:y'), 'localhost/x:y');
      const members = (await readFile(listing, 'utf8')).split('\n');
      for (const m of ['./oci-layout', './index.json', './blobs/sha256/']) assert.ok(members.includes(m), m);
      assert.deepEqual(await readdir(dir), ['listing'], 'no archive file, and the layout is gone');
      assert.equal((importerFor(settings, 'containerd') as unknown as { stream: boolean }).stream, true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('auto: containerd through its socket with --index-name, into the kubelet namespace', () => {
    const i = importerFor(settings, 'containerd');
    assert.ok(i instanceof ContainerdImporter);
    assert.deepEqual(argsOf(i), [
      '/usr/local/bin/ctr',
      '--address',
      '/run/containerd/containerd.sock',
      '-n',
      'k8s.io',
      'images',
      'import',
      '--index-name',
      'localhost/spot-rescue/checkpoint:t',
      '--local',
      '/work/img.oci.tar',
    ]);
  });

  test('auto: CRI-O through containers-storage', () => {
    const i = importerFor(settings, 'cri-o');
    assert.ok(i instanceof ContainersStorageImporter);
    assert.deepEqual(argsOf(i), [
      'skopeo',
      'copy',
      '--quiet',
      'oci-archive:/work/img.oci.tar',
      'containers-storage:localhost/spot-rescue/checkpoint:t',
    ]);
  });

  test('auto on a runtime it cannot import into is refused, never a directory nobody reads', () => {
    for (const runtime of ['unknown', 'runc'] as const) {
      assert.throws(
        () => importerFor(settings, runtime),
        (e: unknown) => e instanceof AgentFailure && e.code === 'unsupported',
      );
    }
  });

  test('explicit choices: oci-dir for tests, or a command line', () => {
    assert.ok(importerFor({ ...settings, importer: 'oci-dir' }, 'containerd') instanceof OciDirImporter);
    const custom = importerFor({ ...settings, importer: 'nerdctl load -i {archive}' }, 'containerd');
    assert.ok(custom instanceof CommandImporter);
    assert.deepEqual(argsOf(custom), ['nerdctl', 'load', '-i', '/work/img.oci.tar']);
  });
});
