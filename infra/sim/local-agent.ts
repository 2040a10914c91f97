import { setPriority } from 'node:os';
import { type ServiceProcess, startService, startTsProcess } from './service-process.js';

/**
 * Simulation only. On EKS the chart's DaemonSet puts one agent on every node,
 * behind the kubelet runtime; on the local stack a simulated (kwok) node has
 * no kubelet, so its agent runs here as a process on this machine with the
 * runc runtime, listening on a loopback port of its own.
 */

export interface AgentHandle extends ServiceProcess {
  node: string;
  url: string;
}

const localAgentEnv = (allowedServiceAccount: string, stateDir: string) => ({
  SPOT_RESCUE_AGENT_RUNTIME: 'runc',
  SPOT_RESCUE_AGENT_HOST: '127.0.0.1',
  SPOT_RESCUE_AGENT_PORT: '0',
  SPOT_RESCUE_AGENT_ALLOWED_SA: allowedServiceAccount,
  SPOT_RESCUE_STATE_DIR: stateDir,
});

export async function startLocalAgent(o: {
  node: string;
  instanceId?: string;
  allowedServiceAccount: string;
  stateDir: string;
  env?: Record<string, string>;
  logFile?: string;
}): Promise<AgentHandle> {
  const p = startService(
    `agent ${o.node}`,
    'agent',
    {
      SPOT_RESCUE_NODE_NAME: o.node,
      ...(o.instanceId ? { SPOT_RESCUE_INSTANCE_ID: o.instanceId } : {}),
      ...localAgentEnv(o.allowedServiceAccount, o.stateDir),
      ...o.env,
    },
    o.logFile,
  );
  try {
    const line = await p.waitForLine((l) => l.msg === 'agent listening');
    return { ...p, node: o.node, url: String(line['url']) };
  } catch (err) {
    await p.stop();
    throw err;
  }
}

/**
 * The agents of several simulated nodes in one process (infra/sim/agent-host.ts):
 * each still its own agent with its own port, runc root and state, sharing
 * only the loaded modules, so 50 simulated nodes fit on one machine.
 */
export async function startLocalAgentGroup(o: {
  nodes: { name: string; instanceId?: string }[];
  allowedServiceAccount: string;
  stateDir: string;
  logFile?: string;
  env?: Record<string, string>;
  /** Scheduling niceness of the process and of everything it starts (runc, CRIU, tar, zstd). */
  nice?: number;
}): Promise<{ host: ServiceProcess; agents: AgentHandle[] }> {
  const host = startTsProcess(
    `agents ${o.nodes[0]?.name}..${o.nodes.at(-1)?.name}`,
    ['infra/sim/agent-host.ts'],
    {
      SPOT_RESCUE_SIM_AGENT_NODES: JSON.stringify(
        o.nodes.map((n) => ({ node: n.name, ...(n.instanceId ? { instanceId: n.instanceId } : {}) })),
      ),
      ...localAgentEnv(o.allowedServiceAccount, o.stateDir),
      ...o.env,
    },
    o.logFile,
  );
  if (o.nice && host.child.pid) setPriority(host.child.pid, o.nice);
  try {
    const agents = await Promise.all(
      o.nodes.map(async (n) => {
        const line = await host.waitForLine(
          (l) => l.msg === 'agent listening' && l['node'] === n.name,
          120_000,
        );
        return { ...host, node: n.name, url: String(line['url']) };
      }),
    );
    return { host, agents };
  } catch (err) {
    await host.stop();
    throw err;
  }
}
