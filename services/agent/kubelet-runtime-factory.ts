import { readFile } from 'node:fs/promises';
import { loadKubeConfig } from '../common/kube.js';
import type { AgentConfig } from './agent-app.js';
import { CgroupFreezer } from './container-freezer.js';
import { CommandImporter, type ImageImporter, OciDirImporter } from './image-importer.js';
import { KubeletClient } from './kubelet-client.js';
import { KubeletRuntime, KubePodContainerIds } from './kubelet-runtime.js';
import type { NodeLayout } from './node-layout.js';

export async function createKubeletRuntime(c: AgentConfig, layout: NodeLayout): Promise<KubeletRuntime> {
  if (!c.kubeletUrl) throw new Error('SPOT_RESCUE_KUBELET_URL must be set for the kubelet runtime');
  const importer: ImageImporter =
    c.imageImporter === 'oci-dir'
      ? new OciDirImporter(layout.imagesDir)
      : new CommandImporter(c.imageImporter, c.tarBin);
  return new KubeletRuntime({
    client: new KubeletClient({
      url: c.kubeletUrl,
      ca: c.kubeletCaFile ? await readFile(c.kubeletCaFile) : undefined,
      tokenFile: c.kubeletTokenFile,
    }),
    freezer: new CgroupFreezer(c.cgroupRoot),
    containerIds: new KubePodContainerIds(loadKubeConfig(c.kubeconfig)),
    checkpointsDir: c.kubeletCheckpointsDir,
    layout,
    importer,
    imageRepository: c.imageRepository,
    criu: c.criu,
  });
}
