import type { CheckpointRequest, ContainerArchive, Manifest } from '../common/agent-api.js';
import { manifestSchema } from '../common/agent-api.js';

/**
 * The kubelet/checkpointctl archive layout. The kubelet runtime receives it
 * from the kubelet; the runc runtime produces the same, so one restore path
 * (and checkpointctl) serves archives from either.
 */
export const LAYOUT = {
  /** CRIU image files. */
  checkpointDir: 'checkpoint',
  /** Container metadata (id, name, image, times) as JSON. */
  configDump: 'config.dump',
  /** The OCI runtime spec the container ran with. */
  specDump: 'spec.dump',
  /** Files the container changed or added in its root filesystem. */
  rootfsDiff: 'rootfs-diff.tar',
  /** JSON list of files the container deleted from its root filesystem. */
  deletedFiles: 'deleted.files',
} as const;

export const MANIFEST_FILE = 'manifest.json';
export const ARCHIVE_SUFFIX = '.tar.zst';

export function normalisePrefix(prefix: string): string {
  return prefix.replace(/^\/+/, '').replace(/\/+$/, '');
}

export function archiveKey(prefix: string, container: string): string {
  return `${normalisePrefix(prefix)}/${container}${ARCHIVE_SUFFIX}`;
}

export function manifestKey(prefix: string): string {
  return `${normalisePrefix(prefix)}/${MANIFEST_FILE}`;
}

/** config.dump as CRI-O writes it (the fields checkpointctl and restore read). */
export interface ConfigDump {
  id: string;
  name: string;
  rootfsImage?: string;
  rootfsImageRef?: string;
  rootfsImageName?: string;
  runtime: string;
  createdTime: string;
  checkpointedTime: string;
  restored?: boolean;
}

export interface ManifestInput {
  request: CheckpointRequest;
  cluster: string;
  sourceNode: string;
  sourceInstanceId?: string | undefined;
  runtime: Manifest['runtime'];
  criuVersion: string;
  createdAt: Date;
  completedAt: Date;
  containers: ContainerArchive[];
}

/** The manifest written beside the archives; validated so a bad one never reaches S3. */
export function buildManifest(i: ManifestInput): Manifest {
  const byName = new Map(i.containers.map((c) => [c.name, c]));
  const missing = i.request.containers.filter((c) => !byName.has(c));
  if (missing.length > 0) throw new Error(`manifest lacks archives for: ${missing.join(', ')}`);
  return manifestSchema.parse({
    version: 1,
    checkpointId: i.request.checkpointId,
    cluster: i.cluster,
    namespace: i.request.namespace,
    pod: i.request.pod,
    podUid: i.request.podUid,
    sourceNode: i.sourceNode,
    ...(i.sourceInstanceId ? { sourceInstanceId: i.sourceInstanceId } : {}),
    runtime: i.runtime,
    criuVersion: i.criuVersion,
    createdAt: i.createdAt.toISOString(),
    completedAt: i.completedAt.toISOString(),
    ...(i.request.eventId ? { eventId: i.request.eventId } : {}),
    ...(i.request.podSpec !== undefined ? { podSpec: i.request.podSpec } : {}),
    containers: i.request.containers.map((c) => byName.get(c)),
  });
}

/** Which of the manifest's containers a restore handles; unknown names are the caller's mistake. */
export function selectContainers(manifest: Manifest, wanted: string[] | undefined): ContainerArchive[] {
  if (wanted === undefined) return manifest.containers;
  const byName = new Map(manifest.containers.map((c) => [c.name, c]));
  const unknown = wanted.filter((w) => !byName.has(w));
  if (unknown.length > 0) {
    throw new Error(
      `manifest has no container ${unknown.join(', ')} (it has ${manifest.containers.map((c) => c.name).join(', ')})`,
    );
  }
  return wanted.map((w) => byName.get(w)!);
}
