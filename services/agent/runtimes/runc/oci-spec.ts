/**
 * OCI runtime specs for the containers the runc runtime runs: the shape of
 * `runc spec`, minus the terminal, with the pod's command, a memory limit, a
 * cgroup of this node's own, the node's CRIU configuration and a hook that
 * brings the loopback interface up.
 */
export interface OciSpec {
  ociVersion: string;
  process: { args: string[]; terminal: boolean; [k: string]: unknown };
  root: { path: string; readonly: boolean };
  hostname?: string;
  mounts: unknown[];
  linux: {
    cgroupsPath?: string;
    resources?: { memory?: { limit?: number }; [k: string]: unknown };
    namespaces: { type: string; path?: string }[];
    [k: string]: unknown;
  };
  hooks?: { createRuntime?: OciHook[]; [k: string]: OciHook[] | undefined };
  annotations?: Record<string, string>;
  [k: string]: unknown;
}

export interface OciHook {
  path: string;
  args?: string[];
  env?: string[];
  timeout?: number;
}

export interface ContainerSpecInput {
  args: string[];
  memoryMiB?: number | undefined;
  hostname: string;
  cgroupsPath: string;
  /** This node's CRIU configuration file (see CRIU_RUNC_OPTIONS in runc-cli.ts). */
  criuConfigFile: string;
  annotations?: Record<string, string>;
}

/** The annotation through which runc 1.1 hands CRIU an extra configuration file on checkpoint and restore. */
export const CRIU_CONFIG_ANNOTATION = 'org.criu.config';

/**
 * Brings `lo` up in the container's network namespace, from the host; the
 * container gets no capability for it. `runc run` brings it up itself, but
 * `runc restore` always has CRIU make an empty network namespace (runc leaves
 * network devices to others), in which `lo` is down: without this a restored
 * workload cannot even reconnect to itself. runc runs createRuntime hooks
 * at both, on restore once CRIU has made the namespaces, with the container's
 * state (holding the pid of its first process) on stdin.
 */
export const LOOPBACK_UP_SCRIPT = [
  `pid=$(sed -n 's/.*"pid": *\\([0-9][0-9]*\\).*/\\1/p')`,
  '[ -n "$pid" ] || { echo "no pid in the container state" >&2; exit 1; }',
  'exec nsenter --target "$pid" --net ip link set lo up',
].join('\n');

const HOOK_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

function runtimeHooks(): NonNullable<OciSpec['hooks']> {
  return {
    createRuntime: [
      { path: '/bin/sh', args: ['sh', '-c', LOOPBACK_UP_SCRIPT], env: [HOOK_PATH], timeout: 10 },
    ],
  };
}

const CAPS = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];

export function containerSpec(i: ContainerSpecInput): OciSpec {
  return {
    ociVersion: '1.0.2-dev',
    process: {
      // No terminal: stdio is /dev/null, which CRIU can dump and restore on any node.
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: i.args,
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      cwd: '/',
      capabilities: { bounding: CAPS, effective: CAPS, permitted: CAPS, ambient: CAPS },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: 'rootfs', readonly: false },
    hostname: i.hostname,
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      {
        destination: '/dev',
        type: 'tmpfs',
        source: 'tmpfs',
        options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
      },
      {
        destination: '/dev/pts',
        type: 'devpts',
        source: 'devpts',
        options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
      },
      {
        destination: '/dev/shm',
        type: 'tmpfs',
        source: 'shm',
        options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'],
      },
      {
        destination: '/dev/mqueue',
        type: 'mqueue',
        source: 'mqueue',
        options: ['nosuid', 'noexec', 'nodev'],
      },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    ],
    linux: {
      cgroupsPath: i.cgroupsPath,
      resources: {
        devices: [{ allow: false, access: 'rwm' }],
        ...(i.memoryMiB ? { memory: { limit: i.memoryMiB * 1024 * 1024 } } : {}),
      },
      // Its own network namespace (loopback only): nothing on the host side to re-create on restore.
      namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
      maskedPaths: [
        '/proc/acpi',
        '/proc/asound',
        '/proc/kcore',
        '/proc/keys',
        '/proc/latency_stats',
        '/proc/timer_list',
        '/proc/timer_stats',
        '/proc/sched_debug',
        '/sys/firmware',
        '/proc/scsi',
      ],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
    hooks: runtimeHooks(),
    annotations: { ...i.annotations, [CRIU_CONFIG_ANNOTATION]: i.criuConfigFile },
  };
}

/**
 * The spec a checkpointed container is restored with on another node: the
 * one it ran with (spec.dump), re-rooted in the new bundle and moved into the
 * target node's cgroup, with the target node's CRIU configuration and hooks.
 * Namespaces joined by path cannot follow a process to another node, so they
 * become fresh ones. Without `criuConfigFile` the dumped one stays named.
 */
export function specForRestore(dumped: OciSpec, cgroupsPath: string, criuConfigFile?: string): OciSpec {
  return {
    ...dumped,
    hooks: runtimeHooks(),
    annotations: {
      ...dumped.annotations,
      ...(criuConfigFile ? { [CRIU_CONFIG_ANNOTATION]: criuConfigFile } : {}),
    },
    process: { ...dumped.process, terminal: false },
    root: { ...dumped.root, path: 'rootfs' },
    linux: {
      ...dumped.linux,
      cgroupsPath,
      namespaces: dumped.linux.namespaces.map((n) => ({ type: n.type })),
    },
  };
}
