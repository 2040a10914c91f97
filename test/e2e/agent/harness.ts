import { type ChildProcess, spawn } from 'node:child_process';
import { readdir, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  ListObjectsV2Command,
  type S3Client,
} from '@aws-sdk/client-s3';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { AGENT_TOKEN_AUDIENCE } from '../../../services/common/agent-api.js';
import { createS3Client } from '../../../services/common/aws.js';
import { loadKubeConfig } from '../../../services/common/kube.js';
import { awsSettings, stackEnv, uniqueName } from '../../support/stack.js';

/** A real agent process serving one simulated node, as the demo and production run it. */
export interface AgentProcess {
  node: string;
  url: string;
  child: ChildProcess;
  logs: string[];
  stop(): Promise<void>;
}

export async function startAgentProcess(
  node: string,
  allowedSa: string,
  extraEnv: Record<string, string> = {},
): Promise<AgentProcess> {
  const s = stackEnv();
  const child = spawn(process.execPath, ['--import', 'tsx', 'services/cli/main.ts', 'agent'], {
    env: {
      ...process.env,
      SPOT_RESCUE_NODE_NAME: node,
      SPOT_RESCUE_AGENT_RUNTIME: 'runc',
      SPOT_RESCUE_AGENT_HOST: '127.0.0.1',
      SPOT_RESCUE_AGENT_PORT: '0',
      SPOT_RESCUE_AGENT_ALLOWED_SA: allowedSa,
      SPOT_RESCUE_STATE_DIR: s.stateDir,
      SPOT_RESCUE_LOG_LEVEL: 'info',
      ...extraEnv,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  child.stderr?.on('data', (d: Buffer) => logs.push(d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`agent ${node} did not start:\n${logs.join('')}`)),
      30_000,
    );
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`agent ${node} exited with ${code}:\n${logs.join('')}`));
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      logs.push(line);
      try {
        const entry = JSON.parse(line) as { msg?: string; url?: string };
        if (entry.msg === 'agent listening' && entry.url) {
          clearTimeout(timer);
          resolve(entry.url);
        }
      } catch {
        // not a log line
      }
    });
  });
  return {
    node,
    url,
    child,
    logs,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      await removeNodeState(node);
    },
  };
}

/** A simulated node's files and (empty) cgroups, once its containers are gone. */
export async function removeNodeState(node: string): Promise<void> {
  await rm(join(stackEnv().stateDir, 'nodes', node), { recursive: true, force: true });
  const controllers = await readdir('/sys/fs/cgroup').catch(() => []);
  for (const c of ['', ...controllers]) {
    await rmdir(join('/sys/fs/cgroup', c, 'spot-rescue', node)).catch(() => {});
  }
}

export interface CallResult<T = unknown> {
  status: number;
  body: T;
}

export async function call<T = Record<string, unknown>>(
  agent: { url: string },
  method: string,
  path: string,
  token: string | undefined,
  body?: unknown,
): Promise<CallResult<T>> {
  const res = await fetch(`${agent.url}${path}`, {
    method,
    headers: {
      ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

/** A namespace with the worker's ServiceAccount and a stranger, and tokens for both minted for the agent. */
export interface Identities {
  namespace: string;
  allowedSa: string;
  workerToken: string;
  strangerToken: string;
  /** A real token of the worker, but minted for another audience. */
  wrongAudienceToken: string;
  cleanup(): Promise<void>;
}

export async function createIdentities(): Promise<Identities> {
  const kc: KubeConfig = loadKubeConfig(stackEnv().kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  const namespace = uniqueName('agent-e2e');
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  const token = async (name: string, audience: string) => {
    const r = await core.createNamespacedServiceAccountToken({
      name,
      namespace,
      body: { spec: { audiences: [audience], expirationSeconds: 3600 } },
    });
    return r.status!.token;
  };
  for (const name of ['worker', 'stranger']) {
    await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } });
  }
  return {
    namespace,
    allowedSa: `system:serviceaccount:${namespace}:worker`,
    workerToken: await token('worker', AGENT_TOKEN_AUDIENCE),
    strangerToken: await token('stranger', AGENT_TOKEN_AUDIENCE),
    wrongAudienceToken: await token('worker', 'some-other-service'),
    cleanup: async () => {
      await core.deleteNamespace({ name: namespace }).catch(() => {});
    },
  };
}

export function s3Client(): S3Client {
  return createS3Client(awsSettings());
}

export async function createBucket(s3: S3Client): Promise<string> {
  const bucket = uniqueName('agent-e2e');
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  return bucket;
}

export async function deleteBucket(s3: S3Client, bucket: string): Promise<void> {
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket })).catch(() => undefined);
  for (const o of listed?.Contents ?? []) {
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: o.Key! }));
  }
  await s3.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => {});
}
