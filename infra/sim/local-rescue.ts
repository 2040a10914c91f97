import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readdir, rm, rmdir } from 'node:fs/promises';
import { setPriority } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { CreateQueueCommand, GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { newJobSigningKeyFile } from '../../services/common/job-signing-key.js';
import { AgentTokens, KubeTokenMinter } from '../../services/worker/agent-tokens.js';
import { simulatedAlarmTopicArn } from './events.js';

/**
 * spot-rescue deployed on the local stack the way the Helm chart deploys it
 * on EKS: one agent process per simulated node (runc runtime), a listener and
 * a worker, each a real `spot-rescue <service>` process with its own
 * environment. Used by the demo and the window benchmark.
 */

const REPO_ROOT = new URL('../../', import.meta.url).pathname;

export interface LogLine {
  msg?: string;
  time?: string;
  [k: string]: unknown;
}

export interface ServiceProcess {
  name: string;
  child: ChildProcess;
  /** Every JSON log line so far, parsed. */
  lines: LogLine[];
  /** Resolves with the first log line for which `match` is true. */
  waitForLine(match: (l: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  stop(): Promise<void>;
}

/** Runs `spot-rescue <command>` from the source tree with the given environment. */
export function startService(
  name: string,
  command: string,
  env: Record<string, string>,
  logFile?: string,
): ServiceProcess {
  return startTsProcess(name, ['services/cli/main.ts', command], env, logFile);
}

/**
 * Runs a TypeScript entry point of the repo under Node, collecting its JSON
 * log lines (and copying them to `logFile`, so a run can be read afterwards).
 */
function startTsProcess(
  name: string,
  [entry, ...args]: string[],
  env: Record<string, string>,
  logFile?: string,
): ServiceProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, entry as string), ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: false,
  });
  const log = logFile ? createWriteStream(logFile, { flags: 'a' }) : undefined;
  const lines: LogLine[] = [];
  const waiters: { match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];
  const stderr: string[] = [];
  child.stderr?.on('data', (d: Buffer) => {
    stderr.push(d.toString());
    log?.write(d);
  });
  createInterface({ input: child.stdout! }).on('line', (text) => {
    log?.write(`${text}\n`);
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
    } catch {
      return;
    }
    lines.push(line);
    for (const w of [...waiters]) {
      if (w.match(line)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  });
  const exited = new Promise<number | null>((r) =>
    child.once('exit', (code) => {
      log?.end();
      r(code);
    }),
  );
  return {
    name,
    child,
    lines,
    waitForLine(match, timeoutMs = 60_000) {
      const seen = lines.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(
            new Error(`${name}: no matching log line after ${timeoutMs} ms\n${stderr.join('').slice(-2000)}`),
          );
        }, timeoutMs);
        exited.then((code) => {
          clearTimeout(timer);
          reject(new Error(`${name} exited with ${code}\n${stderr.join('').slice(-2000)}`));
        });
        waiters.push({
          match,
          resolve: (l) => {
            clearTimeout(timer);
            resolve(l);
          },
        });
      });
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

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

/**
 * Removes every runc container of these simulated nodes, their files and
 * their (then empty) cgroups.
 * A pod deleted while its container ran (evicted, or a test that failed
 * half-way) leaves the process behind: nothing plays the kubelet that would
 * stop it.
 */
export async function removeSimNodeState(stateDir: string, nodes: string[]): Promise<void> {
  const run = promisify(execFile);
  const runc = process.env['SPOT_RESCUE_RUNC'] ?? 'runc';
  for (const node of nodes) {
    const root = join(stateDir, 'nodes', node, 'runc');
    const { stdout } = await run(runc, ['--root', root, 'list', '--quiet']).catch(() => ({ stdout: '' }));
    for (const id of stdout.split('\n').filter(Boolean))
      await run(runc, ['--root', root, 'delete', '--force', id]).catch(() => undefined);
    await rm(join(stateDir, 'nodes', node), { recursive: true, force: true });
    const controllers = await readdir('/sys/fs/cgroup').catch(() => []);
    for (const c of ['', ...controllers])
      await rmdir(join('/sys/fs/cgroup', c, 'spot-rescue', node)).catch(() => {});
  }
}

/** The archive-access role of the simulation, in moto's default account. */
export const SIM_ARCHIVE_ROLE_ARN = 'arn:aws:iam::123456789012:role/spot-rescue-archive-access';

export interface WorkerIdentity {
  serviceAccount: string;
  /**
   * The token the worker presents to one node's agent, minted as the worker
   * mints it (TokenRequest, that node's audience): what the simulation uses
   * to play the kubelet's part on a node's agent.
   */
  tokenFor(node: string): Promise<string>;
}

/** The worker's ServiceAccount; the worker process mints its per-node agent tokens from it as in a cluster. */
export async function createWorkerIdentity(kc: KubeConfig, namespace: string): Promise<WorkerIdentity> {
  const core = kc.makeApiClient(CoreV1Api);
  await core
    .createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'spot-rescue-worker' } } })
    .catch((err) => {
      if ((err as { code?: number }).code !== 409) throw err;
    });
  const tokens = new AgentTokens(new KubeTokenMinter(core, { namespace, name: 'spot-rescue-worker' }), {
    expirationSeconds: 600,
    renewBeforeMs: 120_000,
  });
  return {
    serviceAccount: `system:serviceaccount:${namespace}:spot-rescue-worker`,
    tokenFor: (node) => tokens.tokenFor(node),
  };
}

export interface RescueQueues {
  queueUrl: string;
  dlqUrl: string;
}

/** The SQS queue EventBridge targets, with its DLQ and redrive policy (what the Terraform module creates). */
export async function ensureQueues(sqs: SQSClient, name: string): Promise<RescueQueues> {
  const dlq = await sqs.send(new CreateQueueCommand({ QueueName: `${name}-dlq` }));
  const dlqArn = (
    await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlq.QueueUrl, AttributeNames: ['QueueArn'] }))
  ).Attributes?.QueueArn;
  const q = await sqs.send(
    new CreateQueueCommand({
      QueueName: name,
      Attributes: {
        MessageRetentionPeriod: '300',
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 5 }),
      },
    }),
  );
  return { queueUrl: q.QueueUrl as string, dlqUrl: dlq.QueueUrl as string };
}

export async function ensureBucket(s3: S3Client, bucket: string): Promise<void> {
  await s3.send(new CreateBucketCommand({ Bucket: bucket })).catch((err) => {
    const name = (err as Error).name;
    if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw err;
  });
}

/** Calls an agent as the worker does: Bearer token, JSON in and out. */
export async function callAgent<T>(
  agentUrl: string,
  token: string,
  method: string,
  path: string,
  body?: unknown,
) {
  const res = await fetch(`${agentUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

/** `counter=N mib=M sweeps=S corrupt=C pid=P` -> numbers. */
export function parseCounterProgress(line: string): Record<string, number> {
  return Object.fromEntries(
    line
      .trim()
      .split(/\s+/)
      .map((kv) => kv.split('='))
      .filter((kv): kv is [string, string] => kv.length === 2)
      .map(([k, v]) => [k, Number(v)]),
  );
}

export interface RescueDeployment {
  agents: Map<string, AgentHandle>;
  listener: ServiceProcess;
  worker: ServiceProcess;
  /** Every process, in start order. */
  all: ServiceProcess[];
  stop(): Promise<void>;
}

/**
 * One agent per node, a listener on the queues and a worker that finds the
 * agents by a static map (the chart finds them through the DaemonSet).
 */
export async function startRescueDeployment(o: {
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
   * their agents are grouped apart and run at a lower CPU priority: on EKS
   * the restores run on other machines' cores than the doomed nodes' dumps,
   * here they share one machine's, and must not slow the dumps down.
   */
  restoreOnlyNodes?: ReadonlySet<string>;
  /** Where each process's log is written as `<name>.log`. */
  logDir?: string;
  /** Extra worker settings (SPOT_RESCUE_WORKER_CONCURRENCY, ...). */
  workerEnv?: Record<string, string>;
  /** Extra agent settings (SPOT_RESCUE_AGENT_WORK_DIR, ...). */
  agentEnv?: Record<string, string>;
}): Promise<RescueDeployment> {
  const all: ServiceProcess[] = [];
  const stop = async () => {
    for (const s of [...all].reverse()) await s.stop();
  };
  const logFile = (name: string) => (o.logDir ? join(o.logDir, `${name}.log`) : undefined);
  try {
    const agents = new Map<string, AgentHandle>();
    const perProcess = o.agentsPerProcess ?? 1;
    const batch = o.agentBatch ?? 5;
    const groups: { nodes: { name: string; instanceId: string }[]; nice: number }[] = [];
    const restoreOnly = o.restoreOnlyNodes ?? new Set<string>();
    for (const [nodes, nice] of [
      [o.nodes.filter((n) => !restoreOnly.has(n.name)), 0],
      [o.nodes.filter((n) => restoreOnly.has(n.name)), 10],
    ] as const) {
      for (let i = 0; i < nodes.length; i += perProcess)
        groups.push({ nodes: nodes.slice(i, i + perProcess), nice });
    }
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
