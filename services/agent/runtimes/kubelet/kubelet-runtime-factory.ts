import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { loadKubeConfig } from '../../../common/kube.js';
import type { ContainerOperations } from '../../container-operations.js';
import { NodeCapabilitiesMonitor } from '../../node-capabilities.js';
import type { NodeLayout } from '../../node-layout.js';
import type { AgentConfig } from '../../service.js';
import { kubeletCapabilitySources, NodeRuntimeVersion } from './capability-sources.js';
import { CgroupFreezer } from './container-freezer.js';
import { FrozenContainers } from './frozen-containers.js';
import { importerFor } from './image-importer-factory.js';
import { KubeletClient } from './kubelet-client.js';
import { KubeletRuntime, KubePodContainerIds } from './kubelet-runtime.js';

/** The kubelet runtime and the monitor of what the node's runtime can do, wired from the agent's settings. */
export async function createKubeletRuntime(
  c: AgentConfig,
  layout: NodeLayout,
  operations: ContainerOperations,
  log: Logger,
): Promise<{ runtime: KubeletRuntime; capabilities: NodeCapabilitiesMonitor }> {
  if (!c.kubeletUrl) throw new Error('SPOT_RESCUE_KUBELET_URL must be set for the kubelet runtime');
  const kc = loadKubeConfig(c.kubeconfig);
  const kubelet = new KubeletClient({
    url: c.kubeletUrl,
    ca: c.kubeletCaFile ? await readFile(c.kubeletCaFile) : undefined,
    tokenFile: c.kubeletTokenFile,
  });
  const nodeRuntime = new NodeRuntimeVersion(kc, c.nodeName);
  const capabilities = new NodeCapabilitiesMonitor(
    c.nodeName,
    kubeletCapabilitySources({
      runtimeVersion: () => nodeRuntime.read(),
      nodeCriu: c.nodeCriu,
      containerdConfig: c.containerdConfig,
      checkpointsDir: c.kubeletCheckpointsDir,
      kubelet,
    }),
    log,
    c.capabilitiesIntervalSeconds * 1000,
  );
  const frozen = new FrozenContainers(join(c.hostStateDir ?? layout.nodeDir, 'frozen-containers.json'));
  const loaded = await frozen.load();
  if (loaded.problem) log.error({ problem: loaded.problem }, 'the list of frozen containers is unreadable');
  const runtime = new KubeletRuntime({
    client: kubelet,
    freezer: new CgroupFreezer(c.cgroupRoot),
    containerIds: new KubePodContainerIds(kc),
    checkpointsDir: c.kubeletCheckpointsDir,
    layout,
    importer: async () =>
      importerFor(
        {
          importer: c.imageImporter,
          ctr: c.ctr,
          containerdSocket: c.containerdSocket,
          containerdNamespace: c.containerdNamespace,
          skopeo: c.skopeo,
          tarBin: c.tarBin,
          imagesDir: layout.imagesDir,
        },
        (await capabilities.current()).runtime.name,
      ),
    imageRepository: c.imageRepository,
    criu: c.nodeCriu,
    frozen,
    operations,
    lateDumpWindowMs: c.lateDumpWindowSeconds * 1000,
    maxFrozenMs: c.maxFrozenSeconds * 1000,
    onWarning: (msg, fields) => log.warn(fields ?? {}, msg),
  });
  return { runtime, capabilities };
}
