import { access } from 'node:fs/promises';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { CapabilitySources } from '../../node-capabilities.js';
import { run } from '../../process.js';
import type { CriuState, Verdict } from '../../runtime-support.js';
import { readContainerdRestoreSetting } from './containerd-config.js';
import type { KubeletClient } from './kubelet-client.js';

/** CRIU's version and `criu check`, run as the node's runtime would run it. */
export async function probeCriu(criu: string): Promise<CriuState> {
  let version: string | undefined;
  try {
    const out = await run(criu, ['--version']);
    version = /Version:\s*(\S+)/.exec(out)?.[1] ?? out.trim().slice(0, 40);
  } catch (err) {
    return { found: false, problem: `${criu} cannot run: ${(err as Error).message}` };
  }
  try {
    await run(criu, ['check']);
    return { found: true, version, checkOk: true };
  } catch (err) {
    return { found: true, version, checkOk: false, problem: (err as Error).message };
  }
}

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

/** The local simulation: the agent runs runc and CRIU itself. */
export function runcCapabilitySources(criu: string, ready: () => Promise<true | string>): CapabilitySources {
  return {
    containerRuntimeVersion: async () => undefined,
    criu: () => probeCriu(criu),
    containerdRestoreSetting: async () => undefined,
    checkpointPrerequisites: async () => {
      const r = await ready();
      return r === true ? { ok: true } : { ok: false, reason: r };
    },
  };
}
