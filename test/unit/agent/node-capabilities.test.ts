import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type CapabilitySources,
  decideCapabilities,
  NodeCapabilitiesMonitor,
} from '../../../services/agent/node-capabilities.js';
import { nodeCapabilitiesSchema } from '../../../services/common/agent-api.js';
import { createLogger } from '../../../services/common/logger.js';

const now = new Date('2026-11-30T12:00:00Z');
const criu = { found: true, version: '4.2', checkOk: true };

describe('node capabilities', () => {
  test('an EKS AL2023 node as shipped (containerd 2.2.4, no CRIU): cannot checkpoint, cannot restore', () => {
    const caps = decideCapabilities(
      'ip-10-0-1-23',
      {
        runtimeVersion: 'containerd://2.2.4',
        criu: { found: false, problem: '/opt/containerd/bin/criu cannot run: ENOENT' },
        containerdSetting: undefined,
        prerequisites: { ok: true },
      },
      now,
    );
    assert.deepEqual(nodeCapabilitiesSchema.parse(caps), caps);
    assert.deepEqual(caps.runtime, { name: 'containerd', version: '2.2.4' });
    assert.deepEqual(caps.criu, { found: false });
    assert.equal(caps.checkpoint.ok, false);
    assert.match(caps.checkpoint.reason!, /ENOENT/);
    assert.equal(caps.restore.ok, false);
    assert.equal(caps.checkedAt, '2026-11-30T12:00:00.000Z');
  });

  test('with CRIU: both; a kubelet without the gate: restore only', () => {
    const facts = {
      runtimeVersion: 'containerd://2.2.4',
      criu,
      containerdSetting: undefined,
      prerequisites: { ok: true },
    };
    const both = decideCapabilities('a', facts, now);
    assert.equal(both.checkpoint.ok, true);
    assert.equal(both.restore.ok, true);
    const noGate = decideCapabilities(
      'a',
      { ...facts, prerequisites: { ok: false, reason: 'feature gate ContainerCheckpoint is off' } },
      now,
    );
    assert.equal(noGate.checkpoint.ok, false);
    assert.match(noGate.checkpoint.reason!, /ContainerCheckpoint/);
    assert.equal(noGate.restore.ok, true);
  });

  test('containerd 2.4: checkpoints but never restores', () => {
    const caps = decideCapabilities(
      'a',
      {
        runtimeVersion: 'containerd://2.4.0',
        criu,
        containerdSetting: { enabled: true, source: 'x' },
        prerequisites: { ok: true },
      },
      now,
    );
    assert.equal(caps.checkpoint.ok, true);
    assert.equal(caps.restore.ok, false);
  });

  test('the runc runtime reports itself and follows criu check', () => {
    const caps = decideCapabilities(
      'sim-1',
      { runtimeVersion: undefined, criu, containerdSetting: undefined, prerequisites: { ok: true } },
      now,
    );
    assert.deepEqual(caps.runtime, { name: 'runc', version: 'local' });
    assert.equal(caps.checkpoint.ok && caps.restore.ok, true);
  });

  test('the monitor measures once for concurrent callers, survives failing sources and re-measures', async () => {
    let calls = 0;
    let version = 'containerd://2.2.4';
    const sources: CapabilitySources = {
      containerRuntimeVersion: async () => {
        calls++;
        await new Promise((r) => setTimeout(r, 10));
        return version;
      },
      criu: async () => criu,
      containerdRestoreSetting: async () => {
        throw new Error('EACCES');
      },
      checkpointPrerequisites: async () => {
        throw new Error('kubelet unreachable: ECONNREFUSED');
      },
    };
    const monitor = new NodeCapabilitiesMonitor('a', sources, createLogger('test', 'silent'));
    const [a, b] = await Promise.all([monitor.current(), monitor.current()]);
    assert.equal(calls, 1);
    assert.equal(a, b);
    assert.equal(a.checkpoint.ok, false);
    assert.match(a.checkpoint.reason!, /ECONNREFUSED/);
    assert.equal(a.restore.ok, true);
    version = 'containerd://2.4.1';
    const again = await monitor.refresh();
    assert.equal(again.restore.ok, false);
    assert.equal((await monitor.current()).runtime.version, '2.4.1');
  });
});
