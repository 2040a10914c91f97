import { CoreV1Api, EventsV1Api } from '@kubernetes/client-node';
import type { Registry } from 'prom-client';
import { createSqsClient } from '../common/aws.js';
import { ConfigError, type ConfigOf, readConfig } from '../common/config.js';
import { loadJobSigner } from '../common/job-signing-key.js';
import { loadKubeConfig, makeApiClientWithTimeout } from '../common/kube.js';
import { createLogger, type Logger } from '../common/logger.js';
import { createMetricsRegistry } from '../common/metrics.js';
import { startOpsServer } from '../common/ops-server.js';
import { clusterPrefixProblem, createRedisConnection } from '../common/redis.js';
import { withTimeout } from '../common/timeout.js';
import { InformerClusterCache } from './cluster-cache.js';
import { DedupeStore } from './dedupe.js';
import { BullJobSink } from './enqueue.js';
import { withKeepAlive } from './kube-keepalive.js';
import { createListenerMetrics, registerDlqDepth } from './metrics.js';
import { KubeNodeEvents } from './node-events.js';
import { KubeNodeTainter } from './node-taint.js';
import { MessageProcessor, type ProcessorDeps } from './processor.js';
import { ReceiveLoop } from './receive-loop.js';
import {
  createReplanMetrics,
  KubeTaintedNodes,
  RedisPodJobIndex,
  startReplanLoop,
  TaintedNodeReplanner,
} from './replan-tainted-nodes.js';
import { listenerSettings } from './settings.js';
import { SqsMessageQueue } from './sqs-queue.js';

export type ListenerConfig = ConfigOf<typeof listenerSettings>;

/** What a test or benchmark may put in when it builds the listener in its own process; production passes none. */
export interface ListenerOverrides {
  log?: Logger;
  registry?: Registry;
  onHandled?: ProcessorDeps['onHandled'];
  beforeEnqueue?: ProcessorDeps['beforeEnqueue'];
}

export interface ListenerService {
  registry: Registry;
  ready(): Promise<Record<string, boolean | string>>;
  /** Graceful: stop receiving, finish in-flight messages, close every connection. */
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 2000;

/** Builds the listener from its configuration and starts consuming once the cluster cache is synced. */
export async function startListenerService(
  config: ListenerConfig,
  o: ListenerOverrides = {},
): Promise<ListenerService> {
  const log = o.log ?? createLogger('listener', config.logLevel);
  const registry = o.registry ?? createMetricsRegistry('listener');
  const metrics = createListenerMetrics(registry);

  const signer = loadJobSigner(config.jobSigningKeyFile);
  const slotProblem = clusterPrefixProblem(config.redisUrl, config.queuePrefix);
  if (slotProblem) throw new ConfigError([slotProblem]);
  // Fail fast rather than queue commands while Redis is away: the message stays in SQS and comes back.
  const redis = createRedisConnection(config.redisUrl, { maxRetriesPerRequest: 1 });
  redis.on('error', (err) => log.debug({ err: String(err) }, 'redis connection error'));
  const kc = withKeepAlive(loadKubeConfig(config.kubeconfig));
  const cluster = new InformerClusterCache(kc, log);
  const sqs = createSqsClient(config);
  const queue = new SqsMessageQueue(sqs, config.queueUrl, config.dlqUrl, config.visibilityTimeoutSeconds);
  registerDlqDepth(registry, () => queue.dlqDepth(), log);
  const dedupe = new DedupeStore(redis, config.queuePrefix);
  const sink = new BullJobSink(redis, config.queuePrefix, signer);
  const processor = new MessageProcessor({
    config,
    dedupe,
    cluster,
    tainter: new KubeNodeTainter(
      makeApiClientWithTimeout(kc, CoreV1Api, config.kubeRequestTimeoutSeconds * 1000),
      (result) => metrics.nodePatches.inc({ result }),
    ),
    sink,
    nodeEvents: new KubeNodeEvents(
      makeApiClientWithTimeout(kc, EventsV1Api, config.kubeRequestTimeoutSeconds * 1000),
      log,
    ),
    metrics,
    log,
    ...(o.onHandled ? { onHandled: o.onHandled } : {}),
    ...(o.beforeEnqueue ? { beforeEnqueue: o.beforeEnqueue } : {}),
  });
  const loop = new ReceiveLoop(config, queue, processor, dedupe, metrics, log);
  const replanMetrics = createReplanMetrics(registry);
  const replanner = new TaintedNodeReplanner({
    config,
    metrics: replanMetrics,
    nodes: new KubeTaintedNodes(
      makeApiClientWithTimeout(kc, CoreV1Api, config.kubeRequestTimeoutSeconds * 1000),
    ),
    jobs: new RedisPodJobIndex(redis, config.queuePrefix),
    cluster,
    sink,
    events: new KubeNodeEvents(
      makeApiClientWithTimeout(kc, EventsV1Api, config.kubeRequestTimeoutSeconds * 1000),
      log,
    ),
    log,
  });

  await cluster.start();
  log.info('cluster cache synced');
  loop.start();
  const replan =
    config.replanIntervalSeconds > 0
      ? startReplanLoop(replanner, config.replanIntervalSeconds * 1000, replanMetrics, log)
      : undefined;
  log.info({ queueUrl: config.queueUrl, pollers: config.pollers }, 'listening');

  const ready = async () => {
    const check = async (p: () => Promise<unknown>) => {
      try {
        await withTimeout(p(), READY_TIMEOUT_MS, 'check');
        return true;
      } catch (err) {
        return (err as Error).message;
      }
    };
    const [r, s] = await Promise.all([check(() => redis.ping()), check(() => queue.ping())]);
    return {
      redis: r,
      sqs: s === true && !loop.sqsHealthy ? 'last receive failed' : s,
      informers: cluster.synced() || 'not synced',
    };
  };

  return {
    registry,
    ready,
    stop: async () => {
      await loop.stop();
      await replan?.stop();
      await cluster.stop();
      await sink.close();
      redis.disconnect();
      sqs.destroy();
      log.info('listener stopped');
    },
  };
}

/**
 * `spot-rescue listener`: the service, with its ops server, until SIGTERM.
 * Only a test passes seams, to run this very process with a hook in it.
 */
export async function runListenerService(
  env: NodeJS.ProcessEnv = process.env,
  seams: Pick<ListenerOverrides, 'beforeEnqueue'> = {},
): Promise<void> {
  const config = readConfig(listenerSettings, env);
  const log = createLogger('listener', config.logLevel);
  const running = await startListenerService(config, { ...seams, log });
  const checks = (name: string) => async () => (await running.ready())[name] ?? 'unknown';
  const ops = await startOpsServer({
    host: config.opsHost,
    port: config.opsPort,
    registry: running.registry,
    readiness: { redis: checks('redis'), sqs: checks('sqs'), informers: checks('informers') },
  });
  const address = ops.server.address();
  log.info(
    { port: typeof address === 'object' && address ? address.port : config.opsPort },
    'ops server listening',
  );

  await new Promise<void>((resolve) => {
    const shutdown = (signal: string) => {
      log.info({ signal }, 'shutting down: finishing in-flight messages');
      resolve();
    };
    process.once('SIGTERM', shutdown);
    process.once('SIGINT', shutdown);
  });
  await running.stop();
  await ops.close();
}
