import { AuthorizationV1Api, CoreV1Api, EventsV1Api, type KubeConfig } from '@kubernetes/client-node';
import { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { createAutoScalingClient, createEc2Client, createS3Client } from '../common/aws.js';
import { readConfig } from '../common/config.js';
import { createEmfRecorder, emfSettings } from '../common/emf.js';
import { loadJobSigner } from '../common/job-signing-key.js';
import {
  evictPodJobSchema,
  finalizeNodeJobSchema,
  isFinalAttempt,
  JOB_NAMES,
  jobId,
  jobOptions,
  migratePodJobSchema,
  type ProvisionCapacityJob,
  priorityForDeadline,
  provisionCapacityJobSchema,
  QUEUES,
} from '../common/jobs.js';
import { loadKubeConfig, makeApiClientWithTimeout } from '../common/kube.js';
import { createLogger, type Logger } from '../common/logger.js';
import { createMetricsRegistry } from '../common/metrics.js';
import { startOpsServer } from '../common/ops-server.js';
import { isRescueOutcome } from '../common/outcomes.js';
import { createRedisConnection } from '../common/redis.js';
import { type AgentClient, HttpAgentClient } from './agent-client.js';
import { type AgentLocator, DaemonSetAgentLocator, StaticAgentLocator } from './agent-locator.js';
import { AgentRates } from './agent-rates.js';
import { agentTokens, createArchiveAccess } from './agent-trust.js';
import { ThroughputEstimate } from './budget.js';
import {
  AsgCapacity,
  type AutoScalingClient,
  type CapacityProvider,
  Ec2FleetCapacity,
  NoCapacityProvider,
} from './capacity.js';
import { type Cluster, KubeCluster } from './cluster.js';
import { CachedCluster } from './cluster-cache.js';
import { evictPod } from './evict-pod.js';
import { finalizeNode } from './finalize.js';
import { S3ManifestStore } from './manifest-store.js';
import { WorkerMetrics } from './metrics.js';
import { registerQueueDepth } from './metrics-queue-depth.js';
import { NodeCapabilityCache } from './migrate/capabilities.js';
import { RedisPodLeases } from './migrate/lease.js';
import { type MigrateDeps, migratePod } from './migrate.js';
import { NodeFinishedEvents } from './node-finished-event.js';
import { KubeNamespaceLabels, podOptedIn } from './opt-in.js';
import { type NodeJoiner, provisionCapacity } from './provision.js';
import { RedisReservations } from './reservations.js';
import { KubeRestoreGrants, type RestoreGrants } from './restore-grants.js';
import { checkpointIdFor } from './restored-pod.js';
import { type WorkerConfig, workerSettings } from './settings.js';
import { AbandonedMigrations, MAX_STALLED_COUNT } from './stalled-jobs.js';
import { RefusedJob, signedProgress, verifiedJob, verifiedProgress } from './verified-job.js';

export const allWorkerSettings = { ...workerSettings, ...emfSettings };
export type FullWorkerConfig = WorkerConfig & { emfOutput: 'off' | 'stdout'; emfNamespace: string };

export interface WorkerOverrides {
  agents?: AgentClient;
  locator?: AgentLocator;
  kubeConfig?: KubeConfig;
  registry?: Registry;
  log?: Logger;
  /** Registers a Node for each launched instance where no kubelet will (the local simulation's kwok joiner). */
  joiner?: NodeJoiner;
  /** Puts something in front of the jobs' Kubernetes calls (tests inject faults with it). */
  wrapCluster?: (cluster: Cluster) => Cluster;
  /** Who answers the restore-as question (with SPOT_RESCUE_RESTORE_SERVICE_ACCOUNTS=granted). */
  restoreGrants?: RestoreGrants;
}

export interface WorkerService {
  workers: Worker[];
  metrics: WorkerMetrics;
  close(): Promise<void>;
}

/** Builds every processor and starts one BullMQ Worker per queue. */
export async function startWorkerService(
  config: FullWorkerConfig,
  o: WorkerOverrides = {},
): Promise<WorkerService> {
  const log = o.log ?? createLogger('worker', config.logLevel);
  // Before anything connects: a worker that cannot verify jobs must not run any.
  const signer = loadJobSigner(config.jobSigningKeyFile);
  const registry = o.registry ?? createMetricsRegistry('worker');
  const metrics = new WorkerMetrics(registry);
  const kc = o.kubeConfig ?? loadKubeConfig(config.kubeconfig);
  const core = makeApiClientWithTimeout(kc, CoreV1Api, config.kubeRequestTimeoutSeconds * 1000);
  // Placement reads nodes and pods from informers; no job runs before they have synced.
  const cluster = new CachedCluster(kc, core, new KubeCluster(core), { log });
  const sync = await cluster.start(config.cacheSyncTimeoutSeconds * 1000);
  const jobsCluster = o.wrapCluster ? o.wrapCluster(cluster) : cluster;
  log.info({ syncMs: sync.ms, nodes: sync.nodes, pods: sync.pods }, 'cluster cache synced');
  const redis: Redis = createRedisConnection(config.redisUrl);
  const aws = { awsRegion: config.awsRegion, awsEndpoint: config.awsEndpoint };
  const ec2 = createEc2Client(aws);
  const autoscaling: AutoScalingClient = createAutoScalingClient(aws);
  const locator =
    o.locator ??
    (config.agentLocator === 'static'
      ? new StaticAgentLocator(config.agentEndpoints)
      : new DaemonSetAgentLocator(core, {
          namespace: config.agentNamespace,
          selector: config.agentSelector,
          port: config.agentPort,
          scheme: config.agentScheme,
        }));
  const agents =
    o.agents ??
    new HttpAgentClient({
      locator,
      tokens: agentTokens(core, config),
      caFile: config.agentCaFile,
      tlsServerName: config.agentTlsServerName,
    });
  const reservations = new RedisReservations(redis, config.queuePrefix, config.reservationTtlSeconds * 1000);
  const leases = new RedisPodLeases(redis, config.queuePrefix, config.podLeaseTtlSeconds * 1000);
  const capabilities = new NodeCapabilityCache(agents, log);
  const archiveAccess = createArchiveAccess(config, aws, log);
  const throughput = new ThroughputEstimate(config.throughputMiBps * 2 ** 20);
  metrics.throughput.set(throughput.bytesPerSec);
  const emf = createEmfRecorder(config);
  const connection = { url: config.redisUrl };
  const queueOpts = { connection: createRedisConnection(config.redisUrl), prefix: config.queuePrefix };
  const provisionQueue = new Queue(QUEUES.provision, queueOpts);

  const provider: CapacityProvider =
    config.provisionMode === 'ec2'
      ? new Ec2FleetCapacity(ec2, {
          launchTemplate: config.launchTemplate,
          instanceTypes: config.instanceTypes,
          subnets: config.subnets,
          cluster: config.clusterName,
        })
      : config.provisionMode === 'asg'
        ? new AsgCapacity(
            autoscaling,
            config.asgName ??
              (() => {
                throw new Error('SPOT_RESCUE_PROVISION_ASG is required when SPOT_RESCUE_PROVISION_MODE=asg');
              })(),
            redis,
            config.queuePrefix,
          )
        : new NoCapacityProvider(config.provisionMode);

  const requestCapacity = async (job: ProvisionCapacityJob) => {
    const id = jobId('provision', job.event.id, job.node.name);
    await provisionQueue.add(
      JOB_NAMES.provisionCapacity,
      signer.signed({ queue: QUEUES.provision, name: JOB_NAMES.provisionCapacity, id }, job),
      jobOptions(QUEUES.provision, id, priorityForDeadline(job.event.deadline)),
    );
  };
  const namespaces = new KubeNamespaceLabels(core);
  /** Counts and logs a job the worker would not run, then fails it for good. */
  const refusing = async <T>(queue: string, run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (err) {
      if (err instanceof RefusedJob) {
        metrics.refusedJobs.inc({ queue, reason: err.reason });
        log.error({ queue, reason: err.reason, err: err.message }, 'job refused');
      }
      throw err;
    }
  };

  const common = {
    connection: { ...connection, maxRetriesPerRequest: null },
    prefix: config.queuePrefix,
    lockDuration: config.lockMs,
    stalledInterval: Math.max(1000, Math.floor(config.lockMs / 2)),
    maxStalledCount: MAX_STALLED_COUNT,
  };
  // BullMQ never closes a connection it was given: keep each Worker's to close it ourselves.
  const workerConnections: Redis[] = [];
  const ioredisOpts = () => {
    const c = createRedisConnection(config.redisUrl);
    workerConnections.push(c);
    return c;
  };

  const recordOutcome = ({
    job: j,
    outcome,
    reason,
    manifest,
  }: Parameters<NonNullable<Parameters<typeof migratePod>[2]['onOutcome']>>[0]) => {
    if (!isRescueOutcome(outcome)) return;
    emf({
      cluster: config.clusterName,
      outcome,
      eventKind: j.event.kind,
      namespace: j.pod.namespace,
      pod: j.pod.name,
      finishedAt: Date.now(),
      durationMs: Math.max(0, Date.now() - Date.parse(j.event.receivedAt)),
      ...(manifest
        ? {
            checkpointMs: Math.max(...manifest.containers.map((c) => c.timings.checkpointMs)),
            uploadMs: Math.max(...manifest.containers.map((c) => c.timings.uploadMs)),
            archiveBytes: manifest.containers.reduce((s, c) => s + c.bytesCompressed, 0),
          }
        : {}),
      ...(reason ? { reason } : {}),
      eventId: j.event.id,
    });
  };

  // One set for every migration, live or abandoned: an S3 client per job would be a new connection pool per job.
  const migrateDeps: MigrateDeps = {
    cluster: jobsCluster,
    agents,
    capabilities,
    leases,
    manifests: new S3ManifestStore(createS3Client(aws)),
    archiveAccess,
    reservations,
    ...(config.restoreServiceAccounts === 'granted'
      ? {
          restoreGrants:
            o.restoreGrants ??
            new KubeRestoreGrants(
              makeApiClientWithTimeout(kc, AuthorizationV1Api, config.kubeRequestTimeoutSeconds * 1000),
            ),
        }
      : {}),
    throughput,
    agentRates: new AgentRates(),
    metrics,
    log,
    config,
    requestCapacity,
    onOutcome: recordOutcome,
  };
  const rescue = new Worker(
    QUEUES.rescue,
    async (job) => {
      const { data, progress } = await refusing(QUEUES.rescue, async () => {
        const data = verifiedJob(migratePodJobSchema, job, JOB_NAMES.migratePod, signer);
        const progress = verifiedProgress(
          job,
          signer,
          {
            repository: config.imageRepository,
            checkpointId: checkpointIdFor(data.event.id, data.pod.uid),
          },
          data.pod.namespace,
        );
        // The pod must still ask for migration: a job, even a signed one, moves only opted-in pods.
        // If the API cannot tell on the last attempt, the migration still runs to its outcome
        // (a drain at worst); the admission policy refuses a copy of a pod that is not opted in.
        const optedOut = await (async () => {
          const pod = await jobsCluster.getPod(data.pod.namespace, data.pod.name);
          return pod?.metadata?.uid === data.pod.uid && !(await podOptedIn(pod, namespaces));
        })().catch((err: Error) => {
          if (!isFinalAttempt(job)) throw err;
          log.warn({ job: job.id, err: err.message }, 'could not re-check the opt-in on the last attempt');
          return false;
        });
        if (optedOut)
          throw new RefusedJob(
            'not-opted-in',
            `refused job ${job.id}: ${data.pod.namespace}/${data.pod.name} is not opted in to migration`,
          );
        return { data, progress };
      });
      return migratePod(
        data,
        {
          id: job.id ?? job.name,
          finalAttempt: isFinalAttempt(job),
          progress: () => progress,
          saveProgress: (p) => job.updateProgress(signedProgress(job, signer, p)),
        },
        migrateDeps,
      );
    },
    { ...common, connection: ioredisOpts(), concurrency: config.rescueConcurrency },
  );
  const evict = new Worker(
    QUEUES.evict,
    async (job) =>
      evictPod(
        await refusing(QUEUES.evict, async () =>
          verifiedJob(evictPodJobSchema, job, JOB_NAMES.evictPod, signer),
        ),
        {
          cluster: jobsCluster,
          metrics,
          log,
          config,
        },
      ),
    { ...common, connection: ioredisOpts(), concurrency: config.evictConcurrency },
  );
  const provision = new Worker(
    QUEUES.provision,
    async (job) =>
      provisionCapacity(
        await refusing(QUEUES.provision, async () =>
          verifiedJob(provisionCapacityJobSchema, job, JOB_NAMES.provisionCapacity, signer),
        ),
        {
          provider,
          joiner: o.joiner,
          cluster: jobsCluster,
          metrics,
          log,
          joinTimeoutMs: config.nodeJoinTimeoutSeconds * 1000,
        },
      ),
    { ...common, connection: ioredisOpts(), concurrency: config.provisionConcurrency },
  );
  const nodeFinished = new NodeFinishedEvents(
    makeApiClientWithTimeout(kc, EventsV1Api, config.kubeRequestTimeoutSeconds * 1000),
    log,
  );
  const finalize = new Worker(
    QUEUES.finalize,
    async (job) => {
      const data = await refusing(QUEUES.finalize, async () =>
        verifiedJob(finalizeNodeJobSchema, job, JOB_NAMES.finalizeNode, signer),
      );
      const outcome = await finalizeNode(data, {
        cluster: jobsCluster,
        autoscaling,
        redis,
        prefix: config.queuePrefix,
        metrics,
        log,
      });
      await nodeFinished.record(outcome);
      return outcome;
    },
    { ...common, connection: ioredisOpts(), concurrency: config.finalizeConcurrency },
  );
  // A migration that ended without its processor returning (its worker killed more often than
  // maxStalledCount allows) still ends with its pod running or drained, and an outcome. What it
  // acts on is verified as a live attempt's would be: a refused or forged job drains nothing.
  const abandoned = new AbandonedMigrations(migrateDeps, log, {
    read: (job) => {
      const data = verifiedJob(migratePodJobSchema, job, JOB_NAMES.migratePod, signer);
      const progress = verifiedProgress(
        job,
        signer,
        { repository: config.imageRepository, checkpointId: checkpointIdFor(data.event.id, data.pod.uid) },
        data.pod.namespace,
      );
      return { data, progress };
    },
    sign: (job, p) => signedProgress(job, signer, p),
  });
  rescue.on('failed', (job, err) => {
    // A refused job was never this deployment's: its data names nothing to act on.
    if (err instanceof RefusedJob || err.name === 'RefusedJob') return;
    abandoned.onFailed(job, err);
  });
  const workers = [rescue, evict, provision, finalize];
  // Queue depth for scaling on backlog, read at scrape time over the queues' shared connection.
  const depthQueues = Object.values(QUEUES).map((q) =>
    q === QUEUES.provision ? provisionQueue : new Queue(q, queueOpts),
  );
  registerQueueDepth(registry, depthQueues, log);
  for (const w of workers) {
    w.on('failed', (job, err) => log.warn({ queue: w.name, job: job?.id, err: err.message }, 'job failed'));
    w.on('error', (err) => log.error({ queue: w.name, err: err.message }, 'worker error'));
  }
  await Promise.all(workers.map((w) => w.waitUntilReady()));
  log.info({ prefix: config.queuePrefix, concurrency: config.rescueConcurrency }, 'worker started');

  return {
    workers,
    metrics,
    async close() {
      await Promise.all(workers.map((w) => w.close()));
      await abandoned.settled();
      await Promise.all(workerConnections.map((c) => c.quit()));
      await Promise.all(depthQueues.map((q) => q.close()));
      await (queueOpts.connection as Redis).quit();
      await redis.quit();
      ec2.destroy();
      autoscaling.destroy();
      archiveAccess.close();
      await cluster.stop();
    },
  };
}

/** `spot-rescue worker`: the service until SIGTERM, with /healthz, /readyz and /metrics. */
export async function runWorkerService(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const config = readConfig(allWorkerSettings, env) as FullWorkerConfig;
  const log = createLogger('worker', config.logLevel);
  const registry = createMetricsRegistry('worker');
  const svc = await startWorkerService(config, { log, registry });
  const ops = await startOpsServer({
    host: config.opsHost,
    port: config.opsPort,
    registry,
    readiness: {
      redis: async () => svc.workers.every((w) => w.isRunning()) || 'workers not running',
    },
  });
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'stopping worker');
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  await svc.close();
  await ops.close();
}
