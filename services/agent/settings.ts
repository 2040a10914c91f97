import { z } from 'zod';
import { commonSettings, setting, str } from '../common/config.js';
import { nodeNameSchema } from '../common/kube-names.js';

const serviceAccountName = z
  .string()
  .regex(
    /^system:serviceaccount:[a-z0-9][a-z0-9-]{0,62}:[a-z0-9][a-z0-9.-]{0,252}$/,
    'must be system:serviceaccount:<namespace>:<name>',
  );

/** Everything the agent reads from its environment. */
export const agentSettings = {
  clusterName: commonSettings.clusterName,
  logLevel: commonSettings.logLevel,
  awsRegion: commonSettings.awsRegion,
  awsEndpoint: commonSettings.awsEndpoint,
  kubeconfig: commonSettings.kubeconfig,
  nodeName: setting(
    'SPOT_RESCUE_NODE_NAME',
    nodeNameSchema,
    'the node this agent serves (the DaemonSet sets it from spec.nodeName)',
  ),
  instanceId: setting(
    'SPOT_RESCUE_INSTANCE_ID',
    z.string().optional(),
    'EC2 instance id of the node, recorded in manifests',
  ),
  host: setting('SPOT_RESCUE_AGENT_HOST', z.string().default('0.0.0.0'), 'address the agent API binds'),
  port: setting('SPOT_RESCUE_AGENT_PORT', str.int(0, 65535).default(8443), 'port of the agent API (0: any)'),
  tlsCertFile: setting(
    'SPOT_RESCUE_AGENT_TLS_CERT_FILE',
    z.string().optional(),
    'PEM certificate of the agent API; plain HTTP when unset (local stack only)',
  ),
  tlsKeyFile: setting('SPOT_RESCUE_AGENT_TLS_KEY_FILE', z.string().optional(), 'PEM key of the agent API'),
  allowedServiceAccount: setting(
    'SPOT_RESCUE_AGENT_ALLOWED_SA',
    serviceAccountName,
    'the only identity allowed to call the agent (the worker ServiceAccount), with a token of audience spot-rescue-agent/<SPOT_RESCUE_NODE_NAME>: one minted for another node is refused',
  ),
  runtime: setting(
    'SPOT_RESCUE_AGENT_RUNTIME',
    z.enum(['runc', 'kubelet']).default('kubelet'),
    'checkpoint runtime: kubelet (production) or runc (local stack, demo, e2e)',
  ),
  stateDir: setting(
    'SPOT_RESCUE_STATE_DIR',
    z.string().min(1).default('/var/lib/spot-rescue'),
    'state directory; this node keeps its files under <dir>/nodes/<node>/',
  ),
  hostStateDir: setting(
    'SPOT_RESCUE_AGENT_HOST_STATE_DIR',
    z.string().optional(),
    "a directory on the node that outlives the agent's pod (hostPath), for the list of containers it froze; default <state dir>/nodes/<node>",
  ),
  workDir: setting(
    'SPOT_RESCUE_AGENT_WORK_DIR',
    z.string().optional(),
    'scratch space for dumps and downloads (tmpfs is fastest); default <state dir>/nodes/<node>/work',
  ),
  maxConcurrentCheckpoints: setting(
    'SPOT_RESCUE_AGENT_MAX_CONCURRENT_CHECKPOINTS',
    str.int(1, 64).default(2),
    'checkpoints that dump and upload at once on the node; the rest wait their turn, still running',
  ),
  assumedCheckpointMiBps: setting(
    'SPOT_RESCUE_AGENT_ASSUMED_CHECKPOINT_MIBPS',
    str.num(0.1).default(32),
    'dump + compress + upload throughput (MiB/s) of the node, all its checkpoints together, assumed until it has ' +
      'measured its own; on the slow side, since a too-fast guess admits checkpoints their deadline then cuts',
  ),
  checkpointOverheadMs: setting(
    'SPOT_RESCUE_AGENT_CHECKPOINT_OVERHEAD_MS',
    str.int(0, 600_000).default(1500),
    'the part of a checkpoint that does not grow with memory (freeze, runtime calls, manifest), in admission estimates',
  ),
  admissionFactor: setting(
    'SPOT_RESCUE_AGENT_ADMISSION_FACTOR',
    // 1.35: in bench:window at 1x a node's measured rate fell from the 22.7 MiB/s measured before the
    // burst to the 17.2 MiB/s its first checkpoints showed (1.32x), and dropped a 1052 MiB pod it had
    // accepted 11 s earlier. Higher costs pods at 1x: small runs (4 nodes x 5 pods, 2 interrupted) at 1x
    // restored 10 of 10 (oracle 9) with 1.35 and 7 of 9 with 2; at 2x, 2 decided every drained pod within
    // 2.6 s where 1.35 dropped one at 23 s (its node's rate fell 1.6x), both 7 of 7 of the oracle. Kept at
    // 1.35 with admission at risk: what only the margin refuses is now taken at risk where the node learns
    // its rate in time, so a smaller margin would only change the cases where it does not, and the falls
    // from calibration to burst measured then (1.24 to 1.7x, README's window section) are at or above it.
    str.num(1).max(4).default(1.35),
    'a new checkpoint is admitted only if it would be stored by its cut-off with every checkpoint on the node ' +
      'this many times slower than estimated, or else at risk (SPOT_RESCUE_AGENT_AT_RISK_SHARE); one already ' +
      'admitted is kept while it fits at the estimate itself, so a throughput falling by less than this never drops ' +
      'it late. 1.35 covers the 1.32x fall measured in bench:window at 1x as the burst loaded the machine; 1: no ' +
      'margin (more pods admitted, some dropped later)',
  ),
  atRiskShare: setting(
    'SPOT_RESCUE_AGENT_AT_RISK_SHARE',
    // 0.25: with the worker's defaults a warning leaves 85 s to the cut-off, so a pod accepted at risk is
    // decided within ~21 s and keeps three quarters of its window; one delivered 50 s late (bench:window at
    // 2x) leaves 35 s, so within ~9 s: the 10 s for a pod drained instead at 2x.
    str.num(0).max(1).default(0.25),
    'a new checkpoint that fits at the estimate but not with the admission margin is accepted at risk, instead of ' +
      'refused, when a checkpoint on the node is expected to end within this share of the time to its cut-off: by ' +
      'then the node has measured the rate it really has, and those at risk are the first to give way when it is ' +
      'slower, dropped while their pods keep most of their time; after that, one still kept counts as any accepted ' +
      'one. 0: refused',
  ),
  partSizeMiB: setting(
    'SPOT_RESCUE_AGENT_PART_SIZE_MIB',
    str.int(5, 5120).default(16),
    'S3 multipart part size (MiB)',
  ),
  queueSize: setting(
    'SPOT_RESCUE_AGENT_UPLOAD_QUEUE_SIZE',
    str.int(1, 64).default(4),
    'S3 parts uploaded in parallel',
  ),
  s3RequestTimeoutSeconds: setting(
    'SPOT_RESCUE_AGENT_S3_REQUEST_TIMEOUT_SECONDS',
    str.int(1, 3600).default(60),
    'longest a single S3 request (one part) may take before it is abandoned',
  ),
  zstdLevel: setting('SPOT_RESCUE_AGENT_ZSTD_LEVEL', str.int(1, 19).default(1), 'zstd compression level'),
  zstdThreads: setting(
    'SPOT_RESCUE_AGENT_ZSTD_THREADS',
    str.int(0, 64).default(0),
    'zstd threads (0: one per core)',
  ),
  zstdBin: setting('SPOT_RESCUE_ZSTD', z.string().default('zstd'), 'zstd executable'),
  tarBin: setting('SPOT_RESCUE_TAR', z.string().default('tar'), 'GNU tar executable'),
  sseKmsKeyId: setting(
    'SPOT_RESCUE_AGENT_SSE_KMS_KEY_ID',
    z.string().optional(),
    'KMS key for SSE-KMS on archives; unset: no SSE header (bucket default encryption applies)',
  ),
  sse: setting(
    'SPOT_RESCUE_AGENT_SSE',
    z.enum(['none', 'aws:kms']).default('none'),
    'server-side encryption requested on every object (aws:kms in production)',
  ),
  criu: setting('SPOT_RESCUE_CRIU', z.string().default('criu'), 'criu executable (must be 4.x)'),
  runc: setting('SPOT_RESCUE_RUNC', z.string().default('runc'), 'runc executable (runc runtime)'),
  rootfs: setting(
    'SPOT_RESCUE_ROOTFS',
    z.string().optional(),
    'root filesystem copied into every container bundle (runc runtime)',
  ),
  kubeletUrl: setting(
    'SPOT_RESCUE_KUBELET_URL',
    str.url().optional(),
    'kubelet API of this node, e.g. https://<node-ip>:10250 (kubelet runtime)',
  ),
  kubeletCaFile: setting(
    'SPOT_RESCUE_KUBELET_CA_FILE',
    z.string().optional(),
    "CA bundle that signed the kubelet's serving certificate",
  ),
  kubeletTokenFile: setting(
    'SPOT_RESCUE_KUBELET_TOKEN_FILE',
    z.string().default('/var/run/secrets/kubernetes.io/serviceaccount/token'),
    "the agent's own token, presented to the kubelet (needs create on nodes/checkpoint)",
  ),
  kubeletCheckpointsDir: setting(
    'SPOT_RESCUE_KUBELET_CHECKPOINTS_DIR',
    z.string().default('/var/lib/kubelet/checkpoints'),
    'where the kubelet writes checkpoint archives (mounted into the agent)',
  ),
  cgroupRoot: setting(
    'SPOT_RESCUE_CGROUP_ROOT',
    z.string().default('/sys/fs/cgroup'),
    'cgroup filesystem of the node, used to freeze a checkpointed container',
  ),
  imageImporter: setting(
    'SPOT_RESCUE_IMAGE_IMPORTER',
    z
      .string()
      .min(1)
      .refine((v) => ['auto', 'containerd', 'cri-o', 'oci-dir'].includes(v) || v.includes('{archive}'), {
        message: 'auto, containerd, cri-o, oci-dir, or a command line with {archive} and {ref}',
      })
      .default('auto'),
    "how checkpoint images reach the node's runtime: auto (from the Node's containerRuntimeVersion), " +
      'containerd (ctr through its socket), cri-o (skopeo into containers-storage), oci-dir (a directory ' +
      'no runtime reads: tests only) or a command line with {archive} and {ref}',
  ),
  containerdSocket: setting(
    'SPOT_RESCUE_CONTAINERD_SOCKET',
    z.string().default('/run/containerd/containerd.sock'),
    "containerd's socket, mounted from the node (containerd importer)",
  ),
  containerdNamespace: setting(
    'SPOT_RESCUE_CONTAINERD_NAMESPACE',
    z.string().default('k8s.io'),
    "containerd namespace of the kubelet's images",
  ),
  containerdConfig: setting(
    'SPOT_RESCUE_CONTAINERD_CONFIG',
    z.string().default('/etc/containerd/config.toml'),
    "containerd's configuration, mounted read-only from the node: whether restore is enabled (2.2.7+/2.3.4+)",
  ),
  ctr: setting('SPOT_RESCUE_CTR', z.string().default('ctr'), 'ctr executable (containerd 2.x client)'),
  skopeo: setting('SPOT_RESCUE_SKOPEO', z.string().default('skopeo'), 'skopeo executable (CRI-O importer)'),
  nodeCriu: setting(
    'SPOT_RESCUE_NODE_CRIU',
    z.string().default('/opt/containerd/bin/criu'),
    "CRIU as the node's runtime finds it (kubelet runtime): checked with criu check, its version recorded",
  ),
  capabilitiesIntervalSeconds: setting(
    'SPOT_RESCUE_AGENT_CAPABILITIES_INTERVAL_SECONDS',
    str.int(5, 3600).default(60),
    'how often the agent re-measures what the node can do (GET /v1/capabilities)',
  ),
  lateDumpWindowSeconds: setting(
    'SPOT_RESCUE_AGENT_LATE_DUMP_WINDOW_SECONDS',
    str.int(1, 3600).default(150),
    "after an abandoned kubelet checkpoint, how long a late archive is removed and the container kept thawed (the kubelet's CRI wait is 120 s)",
  ),
  maxFrozenSeconds: setting(
    'SPOT_RESCUE_AGENT_MAX_FROZEN_SECONDS',
    str.int(60, 86_400).default(600),
    'a container the agent froze and nobody released is thawed after this long (longer than any migration)',
  ),
  maxArchiveBytes: setting(
    'SPOT_RESCUE_AGENT_MAX_ARCHIVE_BYTES',
    str.int(1).default(64 * 2 ** 30),
    'largest archive (compressed or unpacked) this node restores; a larger one is refused before its download',
  ),
  imageRepository: setting(
    'SPOT_RESCUE_IMAGE_REPOSITORY',
    z.string().default('localhost/spot-rescue/checkpoint'),
    'repository name given to checkpoint images',
  ),
};

/** What `spot-rescue install-criu` (the agent DaemonSet's init container) reads from its environment. */
export const criuInstallSettings = {
  logLevel: commonSettings.logLevel,
  bundleDir: setting(
    'SPOT_RESCUE_CRIU_BUNDLE',
    z.string().default('/opt/spot-rescue/criu'),
    'CRIU 4.2+ as shipped in the agent image: bin/criu and lib/ (its libraries and loader)',
  ),
  hostRoot: setting(
    'SPOT_RESCUE_HOST_ROOT',
    z.string().default('/host'),
    "where the node's root filesystem is mounted in the init container",
  ),
  optDir: setting(
    'SPOT_RESCUE_CRIU_OPT_DIR',
    z.string().default('/opt/containerd'),
    "host directory whose bin/ the runtime puts on its PATH (containerd's opt plugin: /opt/containerd)",
  ),
  configFile: setting(
    'SPOT_RESCUE_CRIU_CONFIG_FILE',
    z.string().default('/etc/criu/default.conf'),
    "CRIU's configuration file on the host (tcp-close, skip-in-flight are added)",
  ),
};
