import { probeCriu } from '../../criu-probe.js';
import type { CapabilitySources } from '../../node-capabilities.js';

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
