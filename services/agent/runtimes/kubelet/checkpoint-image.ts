import { createHash } from 'node:crypto';
import { link, mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** CRI-O recognises a checkpoint image by this image (manifest) annotation (CRI-O >= 1.30). */
export const CRIO_CHECKPOINT_ANNOTATION = 'io.kubernetes.cri-o.annotations.checkpoint.name';
/** containerd 2.1-2.3 look for this annotation (containerd 2.4 removed checkpoint restore). */
export const CONTAINERD_CHECKPOINT_ANNOTATION = 'org.criu.checkpoint.container.name';

const MT = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar',
} as const;

export interface CheckpointImageInput {
  /** sha256 (hex) and size of the uncompressed checkpoint archive: the image's single layer. */
  layerSha256: string;
  layerSize: number;
  /** Name of the checkpointed container, the annotation runtimes restore by. */
  containerName: string;
  /** The image's tag (the importer names the image; kept for the history entry). */
  tag: string;
  created: string;
  architecture: string;
}

export interface Blob {
  digest: string;
  bytes: Buffer;
}

export interface CheckpointImageDocuments {
  config: Blob;
  manifest: Blob;
  index: Buffer;
}

function blob(value: unknown): Blob {
  const bytes = Buffer.from(JSON.stringify(value));
  return { digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`, bytes };
}

/**
 * The OCI documents of a checkpoint image: one layer holding the archive's
 * files (checkpoint/, config.dump, spec.dump, rootfs-diff.tar) as
 * `buildah add` / `checkpointctl build` make it, annotated for both runtimes.
 */
export function checkpointImageDocuments(i: CheckpointImageInput): CheckpointImageDocuments {
  const annotations = {
    [CRIO_CHECKPOINT_ANNOTATION]: i.containerName,
    [CONTAINERD_CHECKPOINT_ANNOTATION]: i.containerName,
  };
  const config = blob({
    created: i.created,
    architecture: i.architecture,
    os: 'linux',
    config: {},
    rootfs: { type: 'layers', diff_ids: [`sha256:${i.layerSha256}`] },
    history: [{ created: i.created, created_by: `spot-rescue agent: checkpoint archive ${i.tag}` }],
  });
  const manifest = blob({
    schemaVersion: 2,
    mediaType: MT.manifest,
    config: { mediaType: MT.config, digest: config.digest, size: config.bytes.length },
    layers: [{ mediaType: MT.layer, digest: `sha256:${i.layerSha256}`, size: i.layerSize }],
    annotations,
  });
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT.index,
      manifests: [
        {
          mediaType: MT.manifest,
          digest: manifest.digest,
          size: manifest.bytes.length,
          // No org.opencontainers.image.ref.name: `ctr images import` would make a second image of it
          // (import-<date>:<tag>), and containerd's CRI then resolves the checkpoint image to that name and
          // fails to find it. The importer names the image itself (--index-name, containers-storage:<ref>).
          annotations,
        },
      ],
      annotations,
    }),
  );
  return { config, manifest, index };
}

/**
 * Writes an OCI image layout directory. The layer is the downloaded archive
 * file itself, hard-linked (or moved) into place rather than copied.
 */
export async function writeCheckpointImageLayout(
  dir: string,
  layerFile: string,
  docs: CheckpointImageDocuments,
  layerSha256: string,
): Promise<void> {
  const blobs = join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const layerPath = join(blobs, layerSha256);
  await link(layerFile, layerPath).catch(() => rename(layerFile, layerPath));
  for (const b of [docs.config, docs.manifest]) await writeFile(join(blobs, b.digest.slice(7)), b.bytes);
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(join(dir, 'index.json'), docs.index);
}

/** A tag for a checkpoint image: lower-case, at most 128 characters, as registries require. */
export { checkpointImageTag } from '../../../common/checkpoint-image-name.js';
