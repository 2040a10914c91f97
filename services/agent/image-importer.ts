import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from './process.js';

/** Puts a checkpoint image (an OCI layout directory) where the node's runtime can create a container from it. */
export interface ImageImporter {
  /** Returns the image reference the restored pod's container must use. */
  import(layoutDir: string, ref: string): Promise<string>;
}

/**
 * Keeps images as OCI layout directories under the node's state dir: what
 * the tests inspect, and a staging area for a registry push.
 */
export class OciDirImporter implements ImageImporter {
  constructor(private readonly imagesDir: string) {}

  async import(layoutDir: string, ref: string): Promise<string> {
    const target = join(this.imagesDir, ref.replace(/[/:]/g, '_'));
    await mkdir(this.imagesDir, { recursive: true });
    await rm(target, { recursive: true, force: true });
    await rename(layoutDir, target);
    return ref;
  }
}

/**
 * Imports through a command line, e.g. `ctr -n k8s.io images import --index-name {ref} {archive}`
 * (containerd) or `skopeo copy oci-archive:{archive} containers-storage:{ref}` (CRI-O).
 * The layout is packed as an oci-archive tar first.
 */
export class CommandImporter implements ImageImporter {
  constructor(
    private readonly template: string,
    private readonly tarBin = 'tar',
  ) {}

  async import(layoutDir: string, ref: string): Promise<string> {
    const archive = `${layoutDir}.oci.tar`;
    try {
      await run(this.tarBin, ['-C', layoutDir, '-cf', archive, '.']);
      const args = commandArgs(this.template, { archive, ref });
      await run(args[0]!, args.slice(1));
      return ref;
    } finally {
      await rm(archive, { force: true });
      await rm(layoutDir, { recursive: true, force: true });
    }
  }
}

/** Splits a command template on spaces and fills {archive} and {ref}; no shell is involved. */
export function commandArgs(template: string, values: { archive: string; ref: string }): string[] {
  const args = template
    .trim()
    .split(/\s+/)
    .map((a) => a.replaceAll('{archive}', values.archive).replaceAll('{ref}', values.ref));
  if (args.length === 0 || !args[0]) throw new Error('empty image import command');
  return args;
}
