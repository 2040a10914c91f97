import { mkdir, rename, rm } from 'node:fs/promises';
import { resolveWithin } from '../../contained-path.js';
import { processOutput, processReading, run } from '../../process.js';

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
    const target = resolveWithin(this.imagesDir, ref.replace(/[/:]/g, '_'));
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
    /** A command line, or its words (no shell either way). */
    private readonly template: string | string[],
    private readonly tarBin = 'tar',
    /**
     * The command reads the oci-archive on stdin ({archive} becomes `-`): tar
     * feeds it directly, so the layer (the whole checkpoint) is not written
     * to disk once more before the runtime copies it into its store.
     */
    private readonly stream = false,
  ) {}

  async import(layoutDir: string, ref: string): Promise<string> {
    const archive = `${layoutDir}.oci.tar`;
    try {
      if (this.stream) {
        const args = commandArgs(this.template, { archive: '-', ref });
        const tar = processOutput(this.tarBin, ['-C', layoutDir, '-cf', '-', '.']);
        const importer = processReading(args[0]!, args.slice(1), tar.stdout);
        // The importer holds its own copy of the pipe; ours must go, or it would never see the end.
        tar.stdout.destroy();
        try {
          await Promise.all([tar.exited, importer.exited]);
        } catch (err) {
          tar.kill();
          importer.kill();
          throw err;
        }
        return ref;
      }
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

/** containerd's image store, through its socket mounted into the agent. */
export interface ContainerdImporterOptions {
  ctr: string;
  /** containerd's socket, e.g. /run/containerd/containerd.sock (mounted from the node). */
  address: string;
  /** The CRI plugin's namespace: the kubelet's images live in k8s.io. */
  namespace?: string;
  tarBin?: string;
}

/**
 * containerd 2.1-2.3: `ctr images import --index-name <ref>` names the index,
 * which carries `org.criu.checkpoint.container.name`, and unpacks the layer
 * into the snapshotter the CRI plugin mounts the checkpoint from. `--local`
 * imports with the client itself rather than the transfer service, which
 * would not name the index.
 */
export class ContainerdImporter extends CommandImporter {
  constructor(o: ContainerdImporterOptions) {
    super(
      [
        o.ctr,
        '--address',
        o.address,
        '-n',
        o.namespace ?? 'k8s.io',
        'images',
        'import',
        '--index-name',
        '{ref}',
        '--local',
        '{archive}',
      ],
      o.tarBin,
      true,
    );
  }
}

/** CRI-O: into containers-storage, where CRI-O reads `io.kubernetes.cri-o.annotations.checkpoint.name` from the manifest. */
export class ContainersStorageImporter extends CommandImporter {
  constructor(o: { skopeo: string; tarBin?: string }) {
    super([o.skopeo, 'copy', '--quiet', 'oci-archive:{archive}', 'containers-storage:{ref}'], o.tarBin);
  }
}

/** Splits a command template on spaces and fills {archive} and {ref}; no shell is involved. */
export function commandArgs(template: string | string[], values: { archive: string; ref: string }): string[] {
  const words = typeof template === 'string' ? template.trim().split(/\s+/) : template;
  const args = words.map((a) => a.replaceAll('{archive}', values.archive).replaceAll('{ref}', values.ref));
  if (args.length === 0 || !args[0]) throw new Error('empty image import command');
  return args;
}
