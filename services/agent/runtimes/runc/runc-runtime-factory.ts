import type { Logger } from 'pino';
import { NodeCapabilitiesMonitor } from '../../node-capabilities.js';
import type { NodeLayout } from '../../node-layout.js';
import type { RuntimeRoutes } from '../../server.js';
import type { AgentConfig } from '../../service.js';
import { runcCapabilitySources } from './capability-sources.js';
import { localContainerRoutes } from './local-container-routes.js';
import { LocalContainers } from './local-containers.js';
import { Runc } from './runc-cli.js';
import { RuncRuntime } from './runc-runtime.js';

/**
 * The runc runtime, the monitor of what the node can do, and the
 * `/v1/local/containers` routes that stand in for the kubelet, wired from the
 * agent's settings.
 */
export function createRuncRuntime(
  c: AgentConfig,
  layout: NodeLayout,
  log: Logger,
): { runtime: RuncRuntime; capabilities: NodeCapabilitiesMonitor; routes: RuntimeRoutes } {
  if (!c.rootfs) throw new Error('SPOT_RESCUE_ROOTFS must be set for the runc runtime');
  const runc = new Runc(c.runc, layout.runcRoot, c.criu);
  const containers = new LocalContainers(layout, runc, c.rootfs);
  const runtime = new RuncRuntime({
    node: c.nodeName,
    layout,
    runc,
    containers,
    baseRootfs: c.rootfs,
    tarBin: c.tarBin,
  });
  const capabilities = new NodeCapabilitiesMonitor(
    c.nodeName,
    runcCapabilitySources(c.criu, () => runtime.ready()),
    log,
    c.capabilitiesIntervalSeconds * 1000,
  );
  return { runtime, capabilities, routes: localContainerRoutes(containers, c.nodeName) };
}
