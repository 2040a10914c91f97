import type { NodeCapabilities } from '../../../common/agent-api.js';
import { AgentFailure } from '../../errors.js';
import {
  CommandImporter,
  ContainerdImporter,
  ContainersStorageImporter,
  type ImageImporter,
  OciDirImporter,
} from './image-importer.js';

export interface ImporterSettings {
  /** auto | containerd | cri-o | oci-dir | a command line with {archive} and {ref} */
  importer: string;
  ctr: string;
  containerdSocket: string;
  containerdNamespace: string;
  skopeo: string;
  tarBin: string;
  imagesDir: string;
}

/**
 * The importer that puts a checkpoint image where this node's runtime
 * creates containers from: chosen from the runtime the Node reports when
 * `auto`. There is no fallback that "works" without reaching the runtime:
 * `oci-dir` leaves the image where no runtime looks, for tests only.
 */
export function importerFor(
  s: ImporterSettings,
  runtime: NodeCapabilities['runtime']['name'],
): ImageImporter {
  const kind = s.importer === 'auto' ? runtime : s.importer;
  switch (kind) {
    case 'containerd':
      return new ContainerdImporter({
        ctr: s.ctr,
        address: s.containerdSocket,
        namespace: s.containerdNamespace,
        tarBin: s.tarBin,
      });
    case 'cri-o':
      return new ContainersStorageImporter({ skopeo: s.skopeo, tarBin: s.tarBin });
    case 'oci-dir':
      return new OciDirImporter(s.imagesDir);
    default:
      if (s.importer === 'auto')
        throw new AgentFailure(
          'unsupported',
          `no checkpoint image importer for container runtime ${runtime}: restores need containerd or CRI-O`,
        );
      return new CommandImporter(s.importer, s.tarBin);
  }
}
