import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { Queue } from 'bullmq';
import { Cluster } from 'ioredis';
import { createSqsClient } from '../../../services/common/aws.js';
import { readConfig } from '../../../services/common/config.js';
import { newJobSigningKeyFile } from '../../../services/common/job-signing-key.js';
import { createLogger } from '../../../services/common/logger.js';
import { createRedisConnection, type Redis } from '../../../services/common/redis.js';
import { type ListenerConfig, startListenerService } from '../../../services/listener/service.js';
import { listenerSettings } from '../../../services/listener/settings.js';
import { awsSettings, stackEnv, uniqueName, waitFor } from '../../support/stack.js';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const FIXTURE_INSTANCE = 'i-0abc123def4567890';
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

/**
 * A sample event made unique to one test: its instance replaced, and every
 * uuid (event ids, request ids, lifecycle tokens, SNS message ids) renewed, so
 * runs never dedupe against each other.
 */
export function sampleEvent(file: string, instanceId: string): string {
  const text = readFileSync(`${ROOT}test/fixtures/events/${file}`, 'utf8').trim();
  const fresh = new Map<string, string>();
  return text.replaceAll(FIXTURE_INSTANCE, instanceId).replace(UUID, (u) => {
    if (!fresh.has(u)) fresh.set(u, randomUUID());
    return fresh.get(u)!;
  });
}

/** A queue and its DLQ of their own, and a BullMQ prefix of its own, on the shared stack. */
export class TestQueues {
  readonly sqs: SQSClient = createSqsClient(awsSettings());
  queueUrl = '';
  dlqUrl = '';
  private readonly redis: Redis;
  private readonly bull = new Map<string, Queue>();

  /** Redis is the stack's unless a test brings its own (a cluster takes a hash-tagged prefix, {lt-...}). */
  /** The key the listener signs its jobs with, fresh for each harness. */
  readonly jobSigningKeyFile = newJobSigningKeyFile();

  constructor(
    readonly redisUrl = stackEnv().redisUrl,
    readonly prefix = uniqueName('lt'),
  ) {
    this.redis = createRedisConnection(redisUrl);
    this.redis.on('error', () => {});
  }

  async create(): Promise<this> {
    const name = uniqueName('listener');
    const dlq = await this.sqs.send(new CreateQueueCommand({ QueueName: `${name}-dlq` }));
    const q = await this.sqs.send(new CreateQueueCommand({ QueueName: name }));
    this.queueUrl = q.QueueUrl!;
    this.dlqUrl = dlq.QueueUrl!;
    return this;
  }

  async send(body: string): Promise<void> {
    await this.sqs.send(new SendMessageCommand({ QueueUrl: this.queueUrl, MessageBody: body }));
  }

  /** Messages in the main queue, visible or not. */
  async depth(): Promise<number> {
    const a = await this.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: this.queueUrl,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    return (
      Number(a.Attributes?.ApproximateNumberOfMessages ?? 0) +
      Number(a.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0)
    );
  }

  async receiveDlq() {
    const r = await this.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: this.dlqUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
        MessageAttributeNames: ['All'],
      }),
    );
    return r.Messages ?? [];
  }

  queue(name: string): Queue {
    let q = this.bull.get(name);
    if (!q) {
      q = new Queue(name, { connection: this.redis, prefix: this.prefix });
      this.bull.set(name, q);
    }
    return q;
  }

  /** Every job in a queue, whatever its state. */
  async jobs(name: string) {
    return this.queue(name).getJobs(['waiting', 'prioritized', 'active', 'delayed', 'completed', 'failed']);
  }

  /** Listener settings for these queues, on the stack; overrides are env-style values. */
  config(overrides: Record<string, string> = {}): ListenerConfig {
    return readConfig(listenerSettings, this.env(overrides));
  }

  env(overrides: Record<string, string> = {}): NodeJS.ProcessEnv {
    const s = stackEnv();
    return {
      ...process.env,
      SPOT_RESCUE_REDIS_URL: this.redisUrl,
      SPOT_RESCUE_AWS_ENDPOINT: s.awsEndpoint,
      AWS_REGION: s.awsRegion,
      KUBECONFIG: s.kubeconfig,
      SPOT_RESCUE_QUEUE_URL: this.queueUrl,
      SPOT_RESCUE_DLQ_URL: this.dlqUrl,
      // The topic of the SNS-wrapped sample (test/fixtures/events/cloudwatch-alarm-via-sns.json).
      SPOT_RESCUE_SNS_TOPIC_ARNS: 'arn:aws:sns:us-east-1:111122223333:spot-rescue-alarms',
      SPOT_RESCUE_QUEUE_PREFIX: this.prefix,
      SPOT_RESCUE_JOB_SIGNING_KEY_FILE: this.jobSigningKeyFile,
      SPOT_RESCUE_OPS_PORT: '0',
      SPOT_RESCUE_OPS_HOST: '127.0.0.1',
      SPOT_RESCUE_LOG_LEVEL: 'warn',
      // Off unless a test is about it (replan.test.ts): on the shared stack every
      // node other tests taint looks jobless to this install and would be re-planned.
      SPOT_RESCUE_LISTENER_REPLAN_INTERVAL_SECONDS: '0',
      ...overrides,
    };
  }

  async cleanup(): Promise<void> {
    for (const q of this.bull.values()) {
      await q.obliterate({ force: true }).catch(() => {});
      await q.close();
    }
    // On a cluster the install's keys share one slot, so they are all on one master.
    const client: unknown = this.redis;
    const nodes = client instanceof Cluster ? client.nodes('master') : [this.redis];
    for (const node of nodes) {
      const keys = await node.keys(`${this.prefix}:*`);
      for (const k of keys) await node.del(k);
    }
    this.redis.disconnect();
    await Promise.allSettled([
      this.sqs.send(new DeleteQueueCommand({ QueueUrl: this.queueUrl })),
      this.sqs.send(new DeleteQueueCommand({ QueueUrl: this.dlqUrl })),
    ]);
    this.sqs.destroy();
  }
}

/** A listener in this process (fast to start; the same code the service runs). */
export async function inProcessListener(config: ListenerConfig) {
  return startListenerService(config, { log: createLogger('listener', config.logLevel) });
}

/**
 * `spot-rescue listener` as a child process, its JSON log lines collected;
 * with `pauseBeforeEnqueueMs`, the same service with its test seam holding
 * every node that long before enqueuing (paused-listener.ts).
 */
export class ChildListener {
  readonly proc: ChildProcess;
  readonly logs: Record<string, unknown>[] = [];
  exit: Promise<number | null>;

  constructor(env: NodeJS.ProcessEnv, o: { pauseBeforeEnqueueMs?: number } = {}) {
    const args = o.pauseBeforeEnqueueMs
      ? ['--import', 'tsx', 'test/integration/listener/paused-listener.ts', String(o.pauseBeforeEnqueueMs)]
      : ['bin/spot-rescue.js', 'listener'];
    this.proc = spawn(process.execPath, args, {
      cwd: ROOT,
      env: { ...env, SPOT_RESCUE_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let buf = '';
    this.proc.stdout!.on('data', (chunk: Buffer) => {
      buf += chunk.toString('utf8');
      let nl = buf.indexOf('\n');
      while (nl >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          this.logs.push(JSON.parse(line));
        } catch {
          this.logs.push({ msg: line });
        }
        nl = buf.indexOf('\n');
      }
    });
    this.exit = new Promise((resolve) => this.proc.on('exit', (code) => resolve(code)));
  }

  async waitForLog(msg: string, timeoutMs = 30_000) {
    return waitFor(`listener log "${msg}"`, async () => this.logs.find((l) => l['msg'] === msg), {
      timeoutMs,
      intervalMs: 50,
    });
  }

  count(msg: string): number {
    return this.logs.filter((l) => l['msg'] === msg).length;
  }

  kill(signal: NodeJS.Signals = 'SIGTERM') {
    if (this.proc.exitCode === null) this.proc.kill(signal);
  }
}

/** Sum of a counter's values whose labels include these. */
export async function counterValue(
  registry: { getSingleMetric(name: string): unknown },
  name: string,
  labels: Record<string, string>,
): Promise<number> {
  const metric = registry.getSingleMetric(name) as
    | { get(): Promise<{ values: { value: number; labels: Record<string, unknown> }[] }> }
    | undefined;
  if (!metric) return 0;
  const { values } = await metric.get();
  return values
    .filter((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want))
    .reduce((sum, v) => sum + v.value, 0);
}
