import { access } from 'node:fs/promises';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { probeCriu } from '../../criu-probe.js';
import type { CapabilitySources } from '../../node-capabilities.js';
import type { Verdict } from '../../runtime-support.js';
import { readContainerdRestoreSetting } from './containerd-config.js';
import type { KubeletClient } from './kubelet-client.js';

/** The Node's `status.nodeInfo.containerRuntimeVersion` (the agent may `get` nodes). */
export class NodeRuntimeVersion {
  private readonly core: CoreV1Api;

  constructor(
    kc: KubeConfig,
    private readonly node: string,
  ) {
    this.core = kc.makeApiClient(CoreV1Api);
  }

  async read(): Promise<string | undefined> {
    const n = await this.core.readNode({ name: this.node });
    return n.status?.nodeInfo?.containerRuntimeVersion;
  }
}

export interface KubeletCapabilitySourceOptions {
  runtimeVersion: () => Promise<string | undefined>;
  /** CRIU where the node's runtime finds it (containerd's opt dir, installed by the chart's init container). */
  nodeCriu: string;
  /** containerd's config.toml as mounted into the agent. */
  containerdConfig: string;
  checkpointsDir: string;
  kubelet: KubeletClient;
}

/** The facts of a node whose kubelet checkpoints. */
export function kubeletCapabilitySources(o: KubeletCapabilitySourceOptions): CapabilitySources {
  return {
    containerRuntimeVersion: o.runtimeVersion,
    criu: () => probeCriu(o.nodeCriu),
    containerdRestoreSetting: () => readContainerdRestoreSetting(o.containerdConfig),
    checkpointPrerequisites: async (): Promise<Verdict> => {
      try {
        await access(o.checkpointsDir);
      } catch {
        return { ok: false, reason: `kubelet checkpoint directory ${o.checkpointsDir} is not mounted` };
      }
      return o.kubelet.probe(AbortSignal.timeout(10_000));
    },
  };
}
