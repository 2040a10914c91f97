import { join } from 'node:path';
import { newJobSigningKeyFile } from '../../services/common/job-signing-key.js';
import { planAgentProcessGroups } from './agent-process-groups.js';
import { type RescueQueues, SIM_ARCHIVE_ROLE_ARN } from './aws-resources.js';
import { simulatedAlarmTopicArn } from './events.js';
import { type AgentHandle, startLocalAgent, startLocalAgentGroup } from './local-agent.js';
import { type ServiceProcess, startService } from './service-process.js';
import type { WorkerIdentity } from './worker-identity.js';

/**
 * Simulation only. spot-rescue deployed on the local stack the way the Helm
 * chart deploys it on EKS: one agent per simulated node (runc runtime), a
 * listener and a worker, each a real `spot-rescue <service>` process with
 * its own environment. Used by the demo, the dashboard render and the window
 * benchmark.
 */

export interface RescueDeployment {
  agents: Map<string, AgentHandle>;
  listener: ServiceProcess;
  worker: ServiceProcess;
  /** Every process, in start order. */
  all: ServiceProcess[];
  stop(): Promise<void>;
}

/** Where and how spot-rescue is deployed on the simulated cluster. */
export interface RescueDeploymentOptions {
  cluster: string;
  queuePrefix: string;
  nodes: { name: string; instanceId: string }[];
  queues: RescueQueues;
  bucket: string;
  worker: WorkerIdentity;
  stateDir: string;
  /** Agents started at once; each is a Node process compiling its sources. */
  agentBatch?: number;
  /** More than 1: that many simulated nodes' agents share a process (see startLocalAgentGroup). */
  agentsPerProcess?: number;
  /**
   * Nodes that will only receive restores in this run. With agentsPerProcess,
   * their agents are grouped apart and run at a lower CPU priority (see
   * planAgentProcessGroups).
   */
  restoreOnlyNodes?: ReadonlySet<string>;
  /** Where each process's log is written as `<name>.log`. */
  logDir?: string;
  /** Extra worker settings (SPOT_RESCUE_WORKER_CONCURRENCY, ...). */
  workerEnv?: Record<string, string>;
  /** Extra agent settings (SPOT_RESCUE_AGENT_WORK_DIR, ...). */
  agentEnv?: Record<string, string>;
}

/**
 * One agent per node, a listener on the queues and a worker that finds the
 * agents by a static map (the chart finds them through the DaemonSet).
 */
export async function startRescueDeployment(o: RescueDeploymentOptions): Promise<RescueDeployment> {
  const all: ServiceProcess[] = [];
  const stop = async () => {
    for (const s of [...all].reverse()) await s.stop();
  };
  const logFile = (name: string) => (o.logDir ? join(o.logDir, `${name}.log`) : undefined);
  try {
    const agents = new Map<string, AgentHandle>();
    const perProcess = o.agentsPerProcess ?? 1;
    const batch = o.agentBatch ?? 5;
    const groups = planAgentProcessGroups(o.nodes, perProcess, o.restoreOnlyNodes);
    for (let i = 0; i < groups.length; i += batch) {
      const started = await Promise.all(
        groups.slice(i, i + batch).map(async ({ nodes: group, nice }, j) => {
          const common = {
            allowedServiceAccount: o.worker.serviceAccount,
            stateDir: o.stateDir,
            ...(o.agentEnv ? { env: o.agentEnv } : {}),
          };
          if (perProcess === 1) {
            const n = group[0] as { name: string; instanceId: string };
            const a = await startLocalAgent({
              ...common,
              node: n.name,
              instanceId: n.instanceId,
              logFile: logFile(`agent-${n.name}`),
            });
            return { host: a as ServiceProcess, agents: [a] };
          }
          return startLocalAgentGroup({
            ...common,
            nodes: group,
            nice,
            logFile: logFile(`agents-${i + j}`),
          });
        }),
      );
      for (const g of started) {
        all.push(g.host);
        for (const a of g.agents) agents.set(a.node, a);
      }
    }
    const shared = {
      SPOT_RESCUE_CLUSTER_NAME: o.cluster,
      SPOT_RESCUE_QUEUE_PREFIX: o.queuePrefix,
      SPOT_RESCUE_OPS_HOST: '127.0.0.1',
      SPOT_RESCUE_OPS_PORT: '0',
      // A key of this stack's own, shared by its listener and worker only.
      SPOT_RESCUE_JOB_SIGNING_KEY_FILE: newJobSigningKeyFile(),
    };
    const listener = startService(
      'listener',
      'listener',
      {
        ...shared,
        SPOT_RESCUE_QUEUE_URL: o.queues.queueUrl,
        // Simulated CloudWatch alarms arrive through this topic (scripts/simulate-interruption).
        SPOT_RESCUE_SNS_TOPIC_ARNS: simulatedAlarmTopicArn(),
        SPOT_RESCUE_DLQ_URL: o.queues.dlqUrl,
      },
      logFile('listener'),
    );
    all.push(listener);
    const worker = startService(
      'worker',
      'worker',
      {
        ...shared,
        SPOT_RESCUE_S3_BUCKET: o.bucket,
        SPOT_RESCUE_AGENT_LOCATOR: 'static',
        SPOT_RESCUE_AGENT_ENDPOINTS: [...agents].map(([n, a]) => `${n}=${a.url}`).join(','),
        SPOT_RESCUE_WORKER_SERVICE_ACCOUNT: o.worker.serviceAccount,
        // As on EKS: every checkpoint and restore gets its own STS session (moto's AssumeRole;
        // moto does not enforce the session policy, IAM does).
        SPOT_RESCUE_ARCHIVE_ROLE_ARN: SIM_ARCHIVE_ROLE_ARN,
        ...o.workerEnv,
      },
      logFile('worker'),
    );
    all.push(worker);
    await listener.waitForLine((l) => l.msg === 'listening', 120_000);
    await worker.waitForLine((l) => l.msg === 'worker started', 120_000);
    return { agents, listener, worker, all, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
