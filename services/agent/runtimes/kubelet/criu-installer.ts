import { chmod, cp, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { run } from '../../process.js';
import { criuVersionIn } from '../criu-version.js';

/**
 * What CRIU needs in its configuration file on a node for the kubelet path:
 * containerd passes CRIU no TCP option, so without tcp-close a pod with an
 * established connection cannot be dumped; skip-in-flight drops half-open
 * ones instead of failing the dump.
 */
export const NODE_CRIU_OPTIONS = ['tcp-close', 'skip-in-flight'];

export interface CriuInstall {
  /** CRIU as shipped in the agent image: bin/criu and lib/ (its libraries, possibly its own loader). */
  bundleDir: string;
  /** The node's root filesystem as mounted into the init container (e.g. /host). */
  hostRoot: string;
  /** The directory the runtime puts first on its PATH, as a host path: containerd's opt dir (/opt/containerd). */
  optDir: string;
  /** CRIU's configuration file, as a host path. */
  configFile: string;
  /** The oldest CRIU that may be installed (4.2: older ones cannot dump sockets on Linux 6.16+). */
  minVersion?: [number, number];
}

export interface CriuInstallResult {
  version: string;
  /** Host path of the criu the runtime will run. */
  criu: string;
  /** An earlier install was replaced (or none existed): a containerd that already looked for CRIU must restart. */
  changed: boolean;
  configWritten: boolean;
}

/** CRIU's configuration with the node options added, keeping whatever else the file says. */
export function mergeCriuConfig(existing: string): { text: string; changed: boolean } {
  const lines = existing.split('\n').map((l) => l.trim());
  const has = new Set(lines.filter((l) => l && !l.startsWith('#')).map((l) => l.split(/\s+/)[0]));
  const missing = NODE_CRIU_OPTIONS.filter((o) => !has.has(o));
  if (missing.length === 0) return { text: existing, changed: false };
  const base = existing.length > 0 && !existing.endsWith('\n') ? `${existing}\n` : existing;
  return { text: `${base}${missing.join('\n')}\n`, changed: true };
}

/**
 * The wrapper the runtime runs as `criu`: the bundled binary against its
 * bundled libraries, through the bundled loader when there is one, so the
 * node's own libc (AL2023's) is never involved.
 */
export function criuWrapper(installDir: string, loader: string | undefined): string {
  const lib = join(installDir, 'lib');
  const bin = join(installDir, 'bin', 'criu');
  const exec = loader
    ? `exec ${join(lib, loader)} --library-path ${lib} ${bin} "$@"`
    : `LD_LIBRARY_PATH=${lib} exec ${bin} "$@"`;
  return `#!/bin/sh\n# Installed by the spot-rescue agent (see charts/spot-rescue, agent.criu).\n${exec}\n`;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/**
 * Puts CRIU where containerd (and the runc it starts) finds it: its opt
 * directory's bin/, first on its PATH, and writes the node's CRIU options.
 * Idempotent, and atomic per step: the bundle is copied beside the old one
 * and renamed into place, so a runtime never runs half a CRIU.
 */
export async function installCriu(o: CriuInstall): Promise<CriuInstallResult> {
  const installDir = join(o.optDir, 'lib', 'spot-rescue-criu');
  const hostInstall = join(o.hostRoot, installDir);
  const hostWrapper = join(o.hostRoot, o.optDir, 'bin', 'criu');
  const loader = (await readdir(join(o.bundleDir, 'lib')).catch(() => [] as string[])).find((n) =>
    /^ld-linux.*\.so/.test(n),
  );
  const wrapper = criuWrapper(installDir, loader);

  const bundleVersion = await run(join(o.bundleDir, 'bin', 'criu'), ['--version']).catch(() => '');
  const before = await readFile(join(hostInstall, 'VERSION'), 'utf8').catch(() => '');
  const oldWrapper = await readFile(hostWrapper, 'utf8').catch(() => '');
  let changed = false;
  if (
    before !== bundleVersion ||
    oldWrapper !== wrapper ||
    !(await exists(join(hostInstall, 'bin', 'criu')))
  ) {
    const tmp = `${hostInstall}.new`;
    await rm(tmp, { recursive: true, force: true });
    await mkdir(dirname(tmp), { recursive: true });
    await cp(o.bundleDir, tmp, { recursive: true, verbatimSymlinks: true });
    await writeFile(join(tmp, 'VERSION'), bundleVersion);
    const old = `${hostInstall}.old`;
    await rm(old, { recursive: true, force: true });
    if (await exists(hostInstall)) await rename(hostInstall, old);
    await rename(tmp, hostInstall);
    await rm(old, { recursive: true, force: true });
    await mkdir(dirname(hostWrapper), { recursive: true });
    await writeFile(`${hostWrapper}.new`, wrapper);
    await chmod(`${hostWrapper}.new`, 0o755);
    await rename(`${hostWrapper}.new`, hostWrapper);
    changed = true;
  }

  // The installed copy, run through host-rooted paths (the wrapper's own paths are the host's).
  const lib = join(hostInstall, 'lib');
  const out = loader
    ? await run(join(lib, loader), ['--library-path', lib, join(hostInstall, 'bin', 'criu'), '--version'])
    : await run(join(hostInstall, 'bin', 'criu'), ['--version']);
  const version = criuVersionIn(out) ?? '';
  const [maj, min] = version.split('.').map(Number);
  const [wantMaj, wantMin] = o.minVersion ?? [4, 2];
  if (!(maj! > wantMaj || (maj === wantMaj && min! >= wantMin))) {
    throw new Error(`the bundled CRIU is ${version || 'unknown'}; ${wantMaj}.${wantMin} or later is needed`);
  }

  const hostConfig = join(o.hostRoot, o.configFile);
  const current = await readFile(hostConfig, 'utf8').catch(() => '');
  const merged = mergeCriuConfig(current);
  if (merged.changed) {
    await mkdir(dirname(hostConfig), { recursive: true });
    await writeFile(`${hostConfig}.new`, merged.text);
    await rename(`${hostConfig}.new`, hostConfig);
  }
  return { version, criu: join(o.optDir, 'bin', 'criu'), changed, configWritten: merged.changed };
}
