import { readFile } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import { agentTokenAudience } from '../common/agent-api.js';
import type { ConfigOf } from '../common/config.js';
import { loadKubeConfig } from '../common/kube.js';
import { createLogger } from '../common/logger.js';
import { createMetricsRegistry } from '../common/metrics.js';
import { mibOneDecimal } from '../common/quantity.js';
import { createAgentS3Client } from './agent-s3-client.js';
import { ArchiveStores } from './archive-scope.js';
import { S3ArchiveStore } from './archive-store.js';
import { CallerAuthenticator, KubeTokenReviewer } from './auth.js';
import { CheckpointAdmission } from './checkpoint-admission.js';
import { CheckpointEstimate } from './checkpoint-estimate.js';
import { CheckpointRestore } from './checkpoint-restore.js';
import { CheckpointSlots } from './checkpoint-slots.js';
import { ContainerOperations } from './container-operations.js';
import { AgentMetrics } from './metrics.js';
import type { NodeCapabilitiesMonitor } from './node-capabilities.js';
import { NodeLayout } from './node-layout.js';
import { createKubeletRuntime } from './runtimes/kubelet/kubelet-runtime-factory.js';
import { createRuncRuntime } from './runtimes/runc/runc-runtime-factory.js';
import type { CheckpointRuntime } from './runtimes/runtime.js';
import { buildAgentServer, type RuntimeRoutes } from './server.js';
import type { agentSettings } from './settings.js';

export type AgentConfig = ConfigOf<typeof agentSettings>;

export interface RunningAgent {
  app: FastifyInstance;
  url: string;
  close(): Promise<void>;
}

/** Wires the agent from its configuration and starts listening. */
export async function startAgent(c: AgentConfig): Promise<RunningAgent> {
  const log = createLogger('agent', c.logLevel).child({ node: c.nodeName });
  const registry = createMetricsRegistry('agent');
  const metrics = new AgentMetrics(registry);
  const layout = new NodeLayout(c.stateDir, c.nodeName, c.workDir);
  const operations = new ContainerOperations();
  let runtime: CheckpointRuntime;
  let capabilities: NodeCapabilitiesMonitor;
  let stopRuntime = () => {};
  let runtimeRoutes: RuntimeRoutes | undefined;
  if (c.runtime === 'runc') {
    const runc = createRuncRuntime(c, layout, log);
    runtime = runc.runtime;
    capabilities = runc.capabilities;
    runtimeRoutes = runc.routes;
  } else {
    const kubelet = await createKubeletRuntime(c, layout, operations, log);
    runtime = kubelet.runtime;
    capabilities = kubelet.capabilities;
    const cleaned = await kubelet.runtime.startUp();
    if (cleaned.removed.length > 0 || cleaned.thawed.length > 0)
      log.warn(cleaned, 'start-up: removed raw archives and thawed containers left by an earlier agent');
    stopRuntime = () => kubelet.runtime.stop();
  }
  capabilities.start();
  if ((c.tlsCertFile === undefined) !== (c.tlsKeyFile === undefined)) {
    throw new Error('SPOT_RESCUE_AGENT_TLS_CERT_FILE and SPOT_RESCUE_AGENT_TLS_KEY_FILE go together');
  }
  const tls =
    c.tlsCertFile && c.tlsKeyFile
      ? { cert: await readFile(c.tlsCertFile), key: await readFile(c.tlsKeyFile) }
      : undefined;
  const kc = loadKubeConfig(c.kubeconfig);
  const s3Settings = { ...c, requestTimeoutSeconds: c.s3RequestTimeoutSeconds };
  const tuning = {
    partSizeBytes: c.partSizeMiB * 1024 * 1024,
    queueSize: c.queueSize,
    sse: c.sse,
    sseKmsKeyId: c.sseKmsKeyId,
  };
  const store = new S3ArchiveStore(createAgentS3Client(s3Settings), tuning);
  const stores = new ArchiveStores(
    store,
    (credentials) => createAgentS3Client(s3Settings, credentials),
    (client) => new S3ArchiveStore(client, tuning),
  );
  const estimate = new CheckpointEstimate({
    assumedBytesPerSec: c.assumedCheckpointMiBps * 2 ** 20,
    overheadMs: c.checkpointOverheadMs,
  });
  const admission = new CheckpointAdmission(estimate, () => slots.size, {
    admissionFactor: c.admissionFactor,
    atRiskShare: c.atRiskShare,
    onPlanned: (t) => metrics.plannedRate(t),
    onDecision: (decision, about) => {
      metrics.admissionDecisions.inc({ decision });
      // One line per decision: what a burst's admissions were, read back by bench:window and by an operator.
      log.info(
        {
          checkpointId: about.id,
          decision,
          memoryMiB: mibOneDecimal(about.bytes),
          cutoff: new Date(about.cutoff).toISOString(),
          ...(about.estimatedStoredAt === undefined
            ? {}
            : { estimatedStoredAt: new Date(about.estimatedStoredAt).toISOString() }),
          rateMiBps: mibOneDecimal(about.bytesPerSec),
          rateBasis: about.basis,
          // What one checkpoint alone was measured to move here, when it caps the plan's lone checkpoints.
          ...(about.singleBytesPerSec === undefined
            ? {}
            : { singleRateMiBps: mibOneDecimal(about.singleBytesPerSec) }),
        },
        'admission',
      );
    },
  });
  const slots = new CheckpointSlots(c.maxConcurrentCheckpoints, ({ active, waiting }) => {
    metrics.checkpointSlots.set({ state: 'active' }, active);
    metrics.checkpointSlots.set({ state: 'waiting' }, waiting);
    admission.slotsInUse(active);
  });
  const service = new CheckpointRestore({
    cluster: c.clusterName,
    node: c.nodeName,
    instanceId: c.instanceId,
    runtime,
    store,
    stores,
    zstd: { bin: c.zstdBin, level: c.zstdLevel, threads: c.zstdThreads },
    maxArchiveBytes: c.maxArchiveBytes,
    slots,
    admission,
    operations,
    capabilities: () => capabilities.current(),
    metrics,
    log,
  });
  const app = buildAgentServer({
    service,
    capabilities: () => capabilities.current(),
    auth: new CallerAuthenticator(
      new KubeTokenReviewer(kc),
      c.allowedServiceAccount,
      agentTokenAudience(c.nodeName),
    ),
    runtime,
    registry,
    log,
    node: c.nodeName,
    runtimeRoutes,
    tls,
  });
  await app.listen({ host: c.host, port: c.port });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : c.port;
  const host = c.host === '0.0.0.0' ? '127.0.0.1' : c.host;
  const url = `${tls ? 'https' : 'http'}://${host}:${port}`;
  log.info(
    {
      url,
      runtime: runtime.name,
      allowed: c.allowedServiceAccount,
      audience: agentTokenAudience(c.nodeName),
    },
    'agent listening',
  );
  return {
    app,
    url,
    close: async () => {
      capabilities.stop();
      stopRuntime();
      await app.close();
    },
  };
}
