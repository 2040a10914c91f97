import type { NodeCapabilities } from '../common/agent-api.js';

/** The node's container runtime as its Node reports it (`status.nodeInfo.containerRuntimeVersion`). */
export interface NodeRuntime {
  name: NodeCapabilities['runtime']['name'];
  version: string;
  /** [major, minor, patch]; undefined when the version does not parse. */
  semver?: [number, number, number] | undefined;
}

/** `containerd://2.2.4`, `cri-o://1.33.1`, `containerd://2.2.4-1.amzn2023.0.1`... */
export function parseContainerRuntimeVersion(value: string | undefined): NodeRuntime {
  const m = /^([a-z-]+):\/\/v?(\S+)$/.exec(value?.trim() ?? '');
  if (!m) return { name: 'unknown', version: value?.trim() || 'unknown' };
  const scheme = m[1]!;
  const version = m[2]!;
  const name = scheme === 'containerd' ? 'containerd' : scheme === 'cri-o' ? 'cri-o' : 'unknown';
  const v = /^(\d+)\.(\d+)\.(\d+)/.exec(version);
  return {
    name,
    version: name === 'unknown' ? `${scheme}://${version}` : version,
    semver: v ? [Number(v[1]), Number(v[2]), Number(v[3])] : undefined,
  };
}

export interface Verdict {
  ok: boolean;
  reason?: string;
}

export interface CriuState {
  found: boolean;
  version?: string | undefined;
  /** `criu check` passed (undefined: not run). */
  checkOk?: boolean | undefined;
  /** Why CRIU is missing or `criu check` failed. */
  problem?: string | undefined;
}

function atLeast(v: [number, number, number], min: [number, number, number]): boolean {
  for (let i = 0; i < 3; i++) {
    if (v[i]! !== min[i]!) return v[i]! > min[i]!;
  }
  return true;
}

/** CRIU 4.x passes `criu check`: the node's runtime can dump and restore processes. */
export function criuVerdict(criu: CriuState): Verdict {
  if (!criu.found)
    return { ok: false, reason: criu.problem ?? "criu not found where the node's runtime looks for it" };
  const major = Number(/^(\d+)\./.exec(criu.version ?? '')?.[1] ?? Number.NaN);
  if (!(major >= 4))
    return { ok: false, reason: `criu ${criu.version ?? '(unknown version)'} is older than 4.0` };
  if (criu.checkOk === false)
    return { ok: false, reason: `criu check failed: ${criu.problem ?? 'no output'}` };
  return { ok: true };
}

/**
 * Whether the runtime's CRI CheckpointContainer works: containerd from 2.0
 * (1.7 answers Unimplemented, so AL2 nodes are drained), CRI-O from 1.25.
 */
export function checkpointVerdict(runtime: NodeRuntime, criu: CriuState): Verdict {
  const base = runtimeCheckpoints(runtime);
  if (!base.ok) return base;
  return criuVerdict(criu);
}

function runtimeCheckpoints(runtime: NodeRuntime): Verdict {
  const v = runtime.semver;
  if (runtime.name === 'containerd') {
    if (!v) return { ok: false, reason: `containerd version ${runtime.version} does not parse` };
    if (!atLeast(v, [2, 0, 0]))
      return { ok: false, reason: `containerd ${runtime.version} cannot checkpoint (needs 2.0 or later)` };
    return { ok: true };
  }
  if (runtime.name === 'cri-o') {
    if (!v) return { ok: false, reason: `CRI-O version ${runtime.version} does not parse` };
    if (!atLeast(v, [1, 25, 0]))
      return { ok: false, reason: `CRI-O ${runtime.version} cannot checkpoint (needs 1.25 or later)` };
    return { ok: true };
  }
  return { ok: false, reason: `unknown container runtime ${runtime.version}` };
}

/**
 * Whether containerd restores from a checkpoint image only with
 * `enable_experimental_restore_via_create = true`: from 2.2.7 and 2.3.4 (after
 * three security advisories about restore), while 2.4 removed the feature.
 */
export function containerdRestoreNeedsOptIn(v: [number, number, number]): boolean {
  const [major, minor] = v;
  if (major !== 2) return false;
  if (minor === 2) return atLeast(v, [2, 2, 7]);
  if (minor === 3) return atLeast(v, [2, 3, 4]);
  return false;
}

/** What a node's containerd configuration says about restore; `undefined`: it could not be read. */
export interface ContainerdRestoreSetting {
  /** enable_experimental_restore_via_create as configured (false when absent). */
  enabled: boolean;
  /** The file(s) it was read from, for the reason an operator reads. */
  source: string;
}

/**
 * Whether a container can be restored here from a checkpoint image: CRI-O
 * from 1.26; containerd 2.1 to 2.3 (2.0 has no restore through CRI, 2.4
 * removed it), from 2.2.7/2.3.4 only with the opt-in; CRIU as for checkpoints.
 */
export function restoreVerdict(
  runtime: NodeRuntime,
  criu: CriuState,
  containerdSetting: ContainerdRestoreSetting | undefined,
): Verdict {
  const base = runtimeRestores(runtime, containerdSetting);
  if (!base.ok) return base;
  return criuVerdict(criu);
}

function runtimeRestores(runtime: NodeRuntime, setting: ContainerdRestoreSetting | undefined): Verdict {
  const v = runtime.semver;
  if (runtime.name === 'cri-o') {
    if (!v) return { ok: false, reason: `CRI-O version ${runtime.version} does not parse` };
    if (!atLeast(v, [1, 26, 0]))
      return {
        ok: false,
        reason: `CRI-O ${runtime.version} cannot restore a checkpoint image (needs 1.26 or later)`,
      };
    return { ok: true };
  }
  if (runtime.name !== 'containerd')
    return { ok: false, reason: `unknown container runtime ${runtime.version}` };
  if (!v) return { ok: false, reason: `containerd version ${runtime.version} does not parse` };
  if (!atLeast(v, [2, 1, 0]))
    return {
      ok: false,
      reason: `containerd ${runtime.version} cannot restore from a checkpoint image (2.1 to 2.3 can)`,
    };
  if (atLeast(v, [2, 4, 0]))
    return {
      ok: false,
      reason: `containerd ${runtime.version} removed restore from a checkpoint image (2.1 to 2.3 have it)`,
    };
  if (!containerdRestoreNeedsOptIn(v)) return { ok: true };
  const flag = 'enable_experimental_restore_via_create = true under [plugins."io.containerd.cri.v1.runtime"]';
  if (!setting)
    return {
      ok: false,
      reason: `containerd ${runtime.version} restores only with ${flag}; its configuration is not mounted into the agent, so this cannot be confirmed`,
    };
  if (!setting.enabled)
    return {
      ok: false,
      reason: `containerd ${runtime.version} restores only with ${flag}; ${setting.source} does not set it`,
    };
  return { ok: true };
}
