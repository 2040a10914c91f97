import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type CriuState,
  checkpointVerdict,
  containerdRestoreNeedsOptIn,
  parseContainerRuntimeVersion,
  restoreVerdict,
} from '../../../services/agent/runtime-support.js';

const criu42: CriuState = { found: true, version: '4.2', checkOk: true };
const enabled = { enabled: true, source: '/etc/containerd/config.toml' };
const notSet = { enabled: false, source: '/etc/containerd/config.toml' };

describe('container runtime support', () => {
  test('parses what Nodes report as containerRuntimeVersion', () => {
    assert.deepEqual(parseContainerRuntimeVersion('containerd://2.2.4'), {
      name: 'containerd',
      version: '2.2.4',
      semver: [2, 2, 4],
    });
    assert.deepEqual(parseContainerRuntimeVersion('containerd://2.2.4-1.amzn2023.0.1').semver, [2, 2, 4]);
    assert.deepEqual(parseContainerRuntimeVersion('cri-o://1.33.1').name, 'cri-o');
    assert.deepEqual(parseContainerRuntimeVersion('docker://28.0.1').name, 'unknown');
    assert.deepEqual(parseContainerRuntimeVersion(undefined).name, 'unknown');
    assert.equal(parseContainerRuntimeVersion('containerd://main').semver, undefined);
  });

  test('containerd checkpoints from 2.0 (AL2 containerd 1.7 cannot: drained)', () => {
    const at = (v: string) => checkpointVerdict(parseContainerRuntimeVersion(`containerd://${v}`), criu42);
    assert.equal(at('1.7.27').ok, false);
    assert.match(at('1.7.27').reason!, /needs 2\.0/);
    assert.equal(at('2.0.0').ok, true);
    assert.equal(at('2.2.4').ok, true);
    assert.equal(at('2.4.1').ok, true);
    assert.equal(checkpointVerdict(parseContainerRuntimeVersion('cri-o://1.24.9'), criu42).ok, false);
    assert.equal(checkpointVerdict(parseContainerRuntimeVersion('cri-o://1.25.0'), criu42).ok, true);
  });

  test('no CRIU, an old CRIU or a failing criu check: neither checkpoint nor restore', () => {
    const runtime = parseContainerRuntimeVersion('containerd://2.2.4');
    for (const criu of [
      { found: false, problem: '/opt/containerd/bin/criu cannot run: ENOENT' },
      { found: true, version: '3.17.1', checkOk: true },
      { found: true, version: '4.2', checkOk: false, problem: 'Looks like vdso is not supported' },
    ] satisfies CriuState[]) {
      const c = checkpointVerdict(runtime, criu);
      const r = restoreVerdict(runtime, criu, undefined);
      assert.equal(c.ok, false);
      assert.equal(r.ok, false);
      assert.match(c.reason!, /criu/i);
    }
    assert.match(checkpointVerdict(runtime, { found: false, problem: 'ENOENT' }).reason!, /ENOENT/);
  });

  test('the opt-in is needed from 2.2.7 and 2.3.4 only', () => {
    const needs = (v: [number, number, number]) => containerdRestoreNeedsOptIn(v);
    assert.equal(needs([2, 1, 5]), false);
    assert.equal(needs([2, 2, 6]), false);
    assert.equal(needs([2, 2, 7]), true);
    assert.equal(needs([2, 2, 12]), true);
    assert.equal(needs([2, 3, 3]), false);
    assert.equal(needs([2, 3, 4]), true);
  });

  test('containerd restores in 2.1-2.3, with the opt-in where the version needs it; never in 2.0 or 2.4+', () => {
    const at = (v: string, setting?: { enabled: boolean; source: string }) =>
      restoreVerdict(parseContainerRuntimeVersion(`containerd://${v}`), criu42, setting);
    assert.equal(at('2.0.5').ok, false);
    assert.match(at('2.0.5').reason!, /2\.1 to 2\.3/);
    assert.equal(at('2.1.4').ok, true);
    // The AL2023 line today: on without any setting.
    assert.equal(at('2.2.4').ok, true);
    assert.equal(at('2.2.6').ok, true);
    // From 2.2.7 the config decides; without it mounted the agent says so rather than guess.
    assert.equal(at('2.2.7').ok, false);
    assert.match(at('2.2.7').reason!, /not mounted/);
    assert.equal(at('2.2.7', notSet).ok, false);
    assert.match(at('2.2.7', notSet).reason!, /does not set it/);
    assert.equal(at('2.2.7', enabled).ok, true);
    assert.equal(at('2.3.3').ok, true);
    assert.equal(at('2.3.4', enabled).ok, true);
    assert.equal(at('2.3.4', notSet).ok, false);
    assert.equal(at('2.4.0', enabled).ok, false);
    assert.match(at('2.4.0', enabled).reason!, /removed/);
  });

  test('CRI-O restores from 1.26', () => {
    assert.equal(restoreVerdict(parseContainerRuntimeVersion('cri-o://1.25.4'), criu42, undefined).ok, false);
    assert.equal(restoreVerdict(parseContainerRuntimeVersion('cri-o://1.26.0'), criu42, undefined).ok, true);
    assert.equal(restoreVerdict(parseContainerRuntimeVersion('cri-o://1.33.1'), criu42, undefined).ok, true);
  });
});
