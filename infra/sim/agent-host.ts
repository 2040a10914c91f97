/**
 * Several simulated nodes' agents in one process, for the window benchmark.
 *
 * On EKS every node runs its own agent pod. Simulating 50 nodes on one
 * machine that way costs 50 Node processes of ~290 MB each before any
 * workload runs (the Kubernetes client alone is ~120 MB of it), which does
 * not fit next to the workload. Here each node still gets its own agent,
 * built by the same `startAgent` from its own configuration (its own port,
 * runc root and state directory); they only share the loaded modules.
 *
 *   SPOT_RESCUE_SIM_AGENT_NODES='[{"node":"n1","instanceId":"i-1"}]' node --import tsx infra/sim/agent-host.ts
 */
import { z } from 'zod';
import { type RunningAgent, startAgent } from '../../services/agent/service.js';
import { agentSettings } from '../../services/agent/settings.js';
import { readConfig } from '../../services/common/config.js';

const nodes = z
  .array(z.object({ node: z.string().min(1), instanceId: z.string().optional() }))
  .min(1)
  .parse(JSON.parse(process.env['SPOT_RESCUE_SIM_AGENT_NODES'] ?? '[]'));

const running: RunningAgent[] = [];
for (const n of nodes) {
  const config = readConfig(agentSettings, {
    ...process.env,
    SPOT_RESCUE_NODE_NAME: n.node,
    ...(n.instanceId ? { SPOT_RESCUE_INSTANCE_ID: n.instanceId } : {}),
  });
  running.push(await startAgent(config));
}

await new Promise<void>((resolve) => {
  process.once('SIGTERM', () => resolve());
  process.once('SIGINT', () => resolve());
});
await Promise.all(running.map((a) => a.close()));
// Abandoned uploads may still hold sockets to a stalled S3 endpoint, as in `spot-rescue agent`.
process.exit(0);
