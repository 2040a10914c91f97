import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { NodeLayout } from '../../../services/agent/node-layout.js';
import { LOOPBACK_UP_SCRIPT } from '../../../services/agent/runtimes/runc/oci-spec.js';
import { CRIU_RUNC_OPTIONS, writeCriuConfig } from '../../../services/agent/runtimes/runc/runc-cli.js';

describe("a node's CRIU configuration", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'criu-config-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('lives in the node layout, one file per node, never under /etc', () => {
    const a = new NodeLayout('/var/lib/spot-rescue', 'node-a').criuConfigFile;
    const b = new NodeLayout('/var/lib/spot-rescue', 'node-b').criuConfigFile;
    assert.equal(a, '/var/lib/spot-rescue/nodes/node-a/criu/runc.conf');
    assert.notEqual(a, b);
  });

  test('closes TCP connections and skips in-flight ones, one CRIU option a line', async () => {
    const file = join(dir, 'nodes', 'n', 'criu', 'runc.conf');
    await writeCriuConfig(file);
    const lines = (await readFile(file, 'utf8')).split('\n').filter((l) => l && !l.startsWith('#'));
    assert.deepEqual(lines, ['tcp-close', 'skip-in-flight']);
    assert.deepEqual([...CRIU_RUNC_OPTIONS], lines);
    // Rewritten in place, no temporary file left beside it.
    await writeCriuConfig(file);
    assert.deepEqual(await readdir(join(dir, 'nodes', 'n', 'criu')), ['runc.conf']);
  });
});

describe('the loopback hook', () => {
  let bin: string;
  before(async () => {
    // A stand-in nsenter that records how it was called.
    bin = await mkdtemp(join(tmpdir(), 'loopback-hook-'));
    await writeFile(join(bin, 'nsenter'), '#!/bin/sh\necho "$@"\n');
    await chmod(join(bin, 'nsenter'), 0o755);
  });
  after(() => rm(bin, { recursive: true, force: true }));

  const runHook = (stdin: string) =>
    spawnSync('/bin/sh', ['-c', LOOPBACK_UP_SCRIPT], {
      input: stdin,
      encoding: 'utf8',
      env: { PATH: `${bin}:/usr/bin:/bin` },
    });

  test("enters the network namespace of the pid in runc's state and brings lo up", () => {
    // What runc writes to a hook's stdin (compact JSON), and the same indented.
    const state = {
      ociVersion: '1.0.2-dev',
      id: 'ns_pod_app',
      status: 'creating',
      pid: 4242,
      bundle: '/x/bundle',
      annotations: { 'org.criu.config': '/x/runc.conf' },
    };
    for (const text of [JSON.stringify(state), JSON.stringify(state, null, 2)]) {
      const r = runHook(text);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout.trim(), '--target 4242 --net ip link set lo up');
    }
  });

  test('fails, so the start or restore fails, when the state has no pid', () => {
    const r = runHook('{"id":"x"}');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /no pid/);
  });
});
