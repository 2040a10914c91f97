import { z } from 'zod';
import { commonSettings, setting, str } from '../common/config.js';
import { jobSigningSettings } from '../common/job-signing-key.js';

/** node=url pairs, e.g. "node-a=http://127.0.0.1:19001,node-b=http://127.0.0.1:19002". */
export const endpointMapSchema = z
  .string()
  .transform((v, ctx) => {
    const out: Record<string, string> = {};
    for (const pair of v
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean)) {
      const eq = pair.indexOf('=');
      const node = pair.slice(0, eq).trim();
      const url = pair.slice(eq + 1).trim();
      if (eq <= 0 || !URL.canParse(url)) {
        ctx.addIssue({ code: 'custom', message: `"${pair}" is not node=url` });
        return z.NEVER;
      }
      out[node] = url.replace(/\/+$/, '');
    }
    return out;
  })
  .default({});

export const workerSettings = {
  ...commonSettings,
  ...jobSigningSettings,
  rescueConcurrency: setting(
    'SPOT_RESCUE_WORKER_CONCURRENCY',
    str.int(1, 1000).default(64),
    'migrate-pod jobs one worker runs at once (each mostly waits: on agents, which bound their own dumps, then on its restored pod)',
  ),
  evictConcurrency: setting(
    'SPOT_RESCUE_WORKER_EVICT_CONCURRENCY',
    str.int(1, 1000).default(16),
    'evict-pod jobs one worker runs at once',
  ),
  provisionConcurrency: setting(
    'SPOT_RESCUE_WORKER_PROVISION_CONCURRENCY',
    str.int(1, 100).default(2),
    'provision-capacity jobs one worker runs at once',
  ),
  finalizeConcurrency: setting(
    'SPOT_RESCUE_WORKER_FINALIZE_CONCURRENCY',
    str.int(1, 100).default(4),
    'finalize-node jobs one worker runs at once',
  ),
  lockMs: setting(
    'SPOT_RESCUE_WORKER_LOCK_MS',
    str.int(1000).default(30_000),
    'BullMQ job lock: a killed worker’s job is picked up again after about this long',
  ),
  cacheSyncTimeoutSeconds: setting(
    'SPOT_RESCUE_WORKER_CACHE_SYNC_TIMEOUT_SECONDS',
    str.int(1).default(60),
    'how long the worker waits at start for its node and pod informers to sync before it gives up',
  ),
  s3Bucket: setting(
    'SPOT_RESCUE_S3_BUCKET',
    z.string().min(3).default('spot-rescue'),
    'bucket for checkpoint archives',
  ),
  agentLocator: setting(
    'SPOT_RESCUE_AGENT_LOCATOR',
    z.enum(['daemonset', 'static']).default('daemonset'),
    'how the worker finds a node’s agent: the DaemonSet pod on the node, or SPOT_RESCUE_AGENT_ENDPOINTS',
  ),
  agentEndpoints: setting(
    'SPOT_RESCUE_AGENT_ENDPOINTS',
    endpointMapSchema,
    'static agent map node=url,... ("*" matches any node); used when SPOT_RESCUE_AGENT_LOCATOR=static',
  ),
  agentNamespace: setting(
    'SPOT_RESCUE_AGENT_NAMESPACE',
    z.string().min(1).default('spot-rescue'),
    'namespace of the agent DaemonSet',
  ),
  agentSelector: setting(
    'SPOT_RESCUE_AGENT_SELECTOR',
    z.string().min(1).default('app.kubernetes.io/name=spot-rescue,app.kubernetes.io/component=agent'),
    'label selector of the agent DaemonSet pods',
  ),
  agentPort: setting(
    'SPOT_RESCUE_AGENT_PORT',
    str.int(1, 65535).default(8443),
    'agent API port on the pod IP',
  ),
  agentScheme: setting(
    'SPOT_RESCUE_AGENT_SCHEME',
    z.enum(['https', 'http']).default('https'),
    'agent API scheme',
  ),
  agentCaFile: setting(
    'SPOT_RESCUE_AGENT_CA_FILE',
    z.string().optional(),
    'CA bundle that signed the agents’ TLS certificates',
  ),
  agentTlsServerName: setting(
    'SPOT_RESCUE_AGENT_TLS_SERVER_NAME',
    z.string().optional(),
    'name the agents’ certificates carry (agents are dialled by pod IP, which certificates do not name)',
  ),
  serviceAccount: setting(
    'SPOT_RESCUE_WORKER_SERVICE_ACCOUNT',
    z
      .string()
      .regex(
        /^system:serviceaccount:[a-z0-9][a-z0-9-]{0,62}:[a-z0-9][a-z0-9.-]{0,252}$/,
        'must be system:serviceaccount:<namespace>:<name>',
      ),
    'the worker’s own ServiceAccount: it mints a token of it per node for that node’s agent (TokenRequest, audience spot-rescue-agent/<node>); the agents’ SPOT_RESCUE_AGENT_ALLOWED_SA',
  ),
  agentTokenExpirationSeconds: setting(
    'SPOT_RESCUE_AGENT_TOKEN_EXPIRATION_SECONDS',
    str.int(600, 86_400).default(600),
    'lifetime of each per-node agent token (the API server’s minimum is 600); one is reused until a fifth of it is left',
  ),
  archiveRoleArn: setting(
    'SPOT_RESCUE_ARCHIVE_ROLE_ARN',
    z
      .string()
      .regex(/^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/, 'must be an IAM role ARN')
      .optional(),
    'role the worker assumes for each checkpoint and restore, with a session policy limited to that pod’s checkpoint prefix, and hands to the agent; unset: agents use their own S3 credentials on the whole bucket (local stack, or a node role that keeps bucket access)',
  ),
  archiveKmsKeyArn: setting(
    'SPOT_RESCUE_ARCHIVE_KMS_KEY_ARN',
    z
      .string()
      .regex(/^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[\w-]+$/, 'must be a KMS key ARN')
      .optional(),
    'with SPOT_RESCUE_ARCHIVE_ROLE_ARN: the archives’ KMS key, the only key the session may encrypt and decrypt with (SSE-KMS)',
  ),
  imageRepository: setting(
    'SPOT_RESCUE_IMAGE_REPOSITORY',
    z.string().min(1).default('localhost/spot-rescue/checkpoint'),
    'repository of the checkpoint images the agents make (as theirs): a restored container runs no other image',
  ),
  throughputMiBps: setting(
    'SPOT_RESCUE_THROUGHPUT_MIBPS',
    str.num(0.1).default(50),
    'initial checkpoint+upload throughput estimate (MiB/s) until agents report measured ones',
  ),
  checkpointOverheadMs: setting(
    'SPOT_RESCUE_CHECKPOINT_OVERHEAD_MS',
    str.int(0).default(3000),
    'fixed cost of one checkpoint (freeze, API calls, manifest)',
  ),
  checkpointEstimateMarginSeconds: setting(
    'SPOT_RESCUE_CHECKPOINT_ESTIMATE_MARGIN_SECONDS',
    str.int(0).default(20),
    "how long past the source agent's latest estimate a checkpoint is waited for (never past its cut-off) " +
      'before the agent is taken for gone',
  ),
  checkpointRetrySeconds: setting(
    'SPOT_RESCUE_CHECKPOINT_RETRY_SECONDS',
    str.int(0).default(30),
    'how long a checkpoint that failed on something that may pass (agent unreachable, a 5xx, an S3 error) is retried, never past the budget; 0: not retried',
  ),
  safetyFactor: setting(
    'SPOT_RESCUE_BUDGET_SAFETY_FACTOR',
    str.num(1).default(1.5),
    'estimates are multiplied by this',
  ),
  safetyMarginMs: setting(
    'SPOT_RESCUE_BUDGET_MARGIN_MS',
    str.int(0).default(10_000),
    'a checkpoint must end at least this long before the deadline',
  ),
  maxFallbackGraceSeconds: setting(
    'SPOT_RESCUE_MAX_FALLBACK_GRACE_SECONDS',
    str.int(0).default(30),
    'the most grace a fallback eviction is planned for',
  ),
  evictionLeadMs: setting(
    'SPOT_RESCUE_EVICTION_LEAD_MS',
    str.int(0).default(5000),
    'time kept for eviction API calls',
  ),
  defaultMemoryMiB: setting(
    'SPOT_RESCUE_DEFAULT_MEMORY_MIB',
    str.int(1).default(512),
    'memory assumed for a container without requests or limits',
  ),
  restoreTimeoutSeconds: setting(
    'SPOT_RESCUE_RESTORE_TIMEOUT_SECONDS',
    str.int(1).default(300),
    'how long after the deadline a restore may still wait for a target node',
  ),
  restoredSettleSeconds: setting(
    'SPOT_RESCUE_RESTORED_SETTLE_SECONDS',
    str.int(0).default(10),
    'how long a copy that took its original’s name (StatefulSet, bare pod) must keep it once running before the ' +
      'pod counts as restored: a delete by name meant for the original (a controller acting on its cache) can still ' +
      'land on it, and a copy removed so is created again; and how long a copy that joined its controller ' +
      '(ReplicaSet, Job) must stay its member: a controller counting one pod too many may remove it, and the pod ' +
      'then counts as failed, not restored',
  ),
  reservationTtlSeconds: setting(
    'SPOT_RESCUE_RESERVATION_TTL_SECONDS',
    str.int(10).default(600),
    'a capacity reservation not released by then (crashed worker) expires',
  ),
  podLeaseTtlSeconds: setting(
    'SPOT_RESCUE_POD_LEASE_TTL_SECONDS',
    str.int(2).default(15),
    'a migration holds its pod for this long and renews it; a killed worker’s hold lapses after it',
  ),
  restoreServiceAccounts: setting(
    'SPOT_RESCUE_RESTORE_SERVICE_ACCOUNTS',
    z.enum(['any', 'granted']).default('any'),
    'granted: the admission policy admits a copy only under a ServiceAccount the worker holds the restore-as verb on, so the worker asks first (SelfSubjectAccessReview) and drains a pod without that grant before any checkpoint; any: not asked',
  ),
  provisionMode: setting(
    'SPOT_RESCUE_PROVISION_MODE',
    z.enum(['ec2', 'asg', 'karpenter', 'none']).default('none'),
    'how capacity is added when no node fits',
  ),
  launchTemplate: setting(
    'SPOT_RESCUE_PROVISION_LAUNCH_TEMPLATE',
    z.string().optional(),
    'ec2 mode: launch template id (lt-...) or name; default: the interrupted instance’s own',
  ),
  instanceTypes: setting(
    'SPOT_RESCUE_PROVISION_INSTANCE_TYPES',
    str.list().default(['m5.xlarge', 'm5a.xlarge', 'm6i.xlarge', 'c5.2xlarge']),
    'ec2 mode: instance types to diversify over',
  ),
  subnets: setting(
    'SPOT_RESCUE_PROVISION_SUBNETS',
    str.list().default([]),
    'ec2 mode: subnets (default: the template’s)',
  ),
  asgName: setting('SPOT_RESCUE_PROVISION_ASG', z.string().optional(), 'asg mode: the group to grow'),
  nodeJoinTimeoutSeconds: setting(
    'SPOT_RESCUE_NODE_JOIN_TIMEOUT_SECONDS',
    str.int(1).default(180),
    'how long a provisioned instance may take to become a Ready node',
  ),
};

export type WorkerConfig = {
  [K in keyof typeof workerSettings]: z.output<(typeof workerSettings)[K]['schema']>;
};
