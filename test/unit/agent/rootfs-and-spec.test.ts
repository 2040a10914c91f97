import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runcIdOf } from '../../../services/agent/node-layout.js';
import { parseProgress } from '../../../services/agent/runtimes/runc/local-containers.js';
import {
  CRIU_CONFIG_ANNOTATION,
  containerSpec,
  LOOPBACK_UP_SCRIPT,
  specForRestore,
} from '../../../services/agent/runtimes/runc/oci-spec.js';
import { diffListings, type FileFacts } from '../../../services/agent/runtimes/runc/rootfs-diff.js';

const f = (size: number, mtimeMs = 1): FileFacts => ({ type: 'file', size, mtimeMs });
const d: FileFacts = { type: 'dir', size: 4096, mtimeMs: 1 };

describe('rootfs diff', () => {
  test('new and changed files go into the diff, untouched ones and directories do not', () => {
    const base = new Map<string, FileFacts>([
      ['bin', d],
      ['bin/sh', f(100)],
      ['etc', d],
      ['etc/passwd', f(10)],
      ['state', d],
    ]);
    const current = new Map<string, FileFacts>([
      ['bin', { ...d, mtimeMs: 99 }],
      ['bin/sh', f(100)],
      ['etc', d],
      ['etc/passwd', f(10, 2)],
      ['state', d],
      ['state/progress', f(40)],
    ]);
    assert.deepEqual(diffListings(base, current), { changed: ['etc/passwd', 'state/progress'], deleted: [] });
  });

  test('deleting a directory records the directory, not each file in it', () => {
    const base = new Map<string, FileFacts>([
      ['tmp', d],
      ['tmp/cache', d],
      ['tmp/cache/a', f(1)],
      ['tmp/cache/b', f(1)],
      ['tmp/keep', f(1)],
      ['etc', d],
      ['etc/motd', f(1)],
    ]);
    const current = new Map<string, FileFacts>([
      ['tmp', d],
      ['tmp/keep', f(1)],
      ['etc', d],
    ]);
    assert.deepEqual(diffListings(base, current).deleted, ['etc/motd', 'tmp/cache']);
  });
});

describe('OCI specs', () => {
  const spec = containerSpec({
    args: ['/usr/local/bin/counter', '256'],
    memoryMiB: 384,
    hostname: 'counter',
    cgroupsPath: '/spot-rescue/node-a/ns_counter_app',
    criuConfigFile: '/var/lib/spot-rescue/nodes/node-a/criu/runc.conf',
  });

  test('a container runs without a terminal, in its own namespaces, with the memory limit asked for', () => {
    assert.equal(spec.process.terminal, false);
    assert.deepEqual(spec.process.args, ['/usr/local/bin/counter', '256']);
    assert.equal(spec.linux.resources?.memory?.limit, 384 * 1024 * 1024);
    assert.deepEqual(
      spec.linux.namespaces.map((n) => n.type),
      ['pid', 'network', 'ipc', 'uts', 'mount'],
    );
  });

  test('a restored container keeps its process and limits but moves to the target cgroup and fresh namespaces', () => {
    const joined = {
      ...spec,
      linux: { ...spec.linux, namespaces: [{ type: 'network', path: '/proc/1/ns/net' }] },
    };
    const r = specForRestore(joined, '/spot-rescue/node-b/ns_counter-restored_app');
    assert.equal(r.linux.cgroupsPath, '/spot-rescue/node-b/ns_counter-restored_app');
    assert.deepEqual(r.linux.namespaces, [{ type: 'network' }]);
    assert.deepEqual(r.process.args, spec.process.args);
    assert.equal(r.linux.resources?.memory?.limit, 384 * 1024 * 1024);
    assert.equal(r.root.path, 'rootfs');
  });

  test("a container names its node's CRIU configuration and brings lo up from a hook, without NET_ADMIN", () => {
    assert.equal(
      spec.annotations?.[CRIU_CONFIG_ANNOTATION],
      '/var/lib/spot-rescue/nodes/node-a/criu/runc.conf',
    );
    const hooks = spec.hooks?.createRuntime ?? [];
    assert.equal(hooks.length, 1);
    assert.deepEqual(hooks[0]?.args, ['sh', '-c', LOOPBACK_UP_SCRIPT]);
    const caps = spec.process['capabilities'] as Record<string, string[]>;
    for (const set of Object.values(caps)) assert.ok(!set.includes('CAP_NET_ADMIN'), JSON.stringify(set));
  });

  test("a restored container takes the target node's CRIU configuration and hooks, keeping other annotations", () => {
    const dumped = {
      ...spec,
      hooks: {},
      annotations: { ...spec.annotations, 'io.example/keep': 'yes' },
    };
    const r = specForRestore(
      dumped,
      '/spot-rescue/node-b/ns_counter-restored_app',
      '/var/lib/spot-rescue/nodes/node-b/criu/runc.conf',
    );
    assert.deepEqual(r.annotations, {
      [CRIU_CONFIG_ANNOTATION]: '/var/lib/spot-rescue/nodes/node-b/criu/runc.conf',
      'io.example/keep': 'yes',
    });
    assert.deepEqual(r.hooks, spec.hooks);
  });

  test('runc ids cannot collide across pods', () => {
    assert.notEqual(runcIdOf('a', 'b-c', 'd'), runcIdOf('a-b', 'c', 'd'));
  });

  test('the counter workload progress line parses into numbers', () => {
    assert.deepEqual(parseProgress('counter=12 mib=256 sweeps=3 corrupt=0 pid=1\n'), {
      counter: 12,
      mib: 256,
      sweeps: 3,
      corrupt: 0,
      pid: 1,
    });
  });
});
