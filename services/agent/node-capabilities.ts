import type { Logger } from 'pino';
import type { NodeCapabilities } from '../common/agent-api.js';
import {
  type ContainerdRestoreSetting,
  type CriuState,
  checkpointVerdict,
  criuVerdict,
  type NodeRuntime,
  parseContainerRuntimeVersion,
  restoreVerdict,
  type Verdict,
} from './runtime-support.js';

/** Where each fact about the node comes from; one method per fact, so a test can stand in for any. */
export interface CapabilitySources {
  /** `status.nodeInfo.containerRuntimeVersion` of this agent's Node (kubelet runtime); undefined for runc. */
  containerRuntimeVersion(): Promise<string | undefined>;
  /** CRIU as the node's runtime finds it: version and `criu check`. */
  criu(): Promise<CriuState>;
  /** containerd's restore opt-in from its mounted configuration; undefined: not mounted. */
  containerdRestoreSetting(): Promise<ContainerdRestoreSetting | undefined>;
  /** Everything else the runtime needs to checkpoint (kubelet reachable with the gate on, directory mounted). */
  checkpointPrerequisites(): Promise<Verdict>;
}

/** Pure: the capabilities a node reports from the facts gathered about it. */
export function decideCapabilities(
  node: string,
  facts: {
    runtimeVersion: string | undefined;
    criu: CriuState;
    containerdSetting: ContainerdRestoreSetting | undefined;
    prerequisites: Verdict;
  },
  now: Date,
): NodeCapabilities {
  const criu = { found: facts.criu.found, ...(facts.criu.version ? { version: facts.criu.version } : {}) };
  if (facts.runtimeVersion === undefined) {
    // The runc runtime (local simulation): the agent itself runs runc and CRIU.
    const v = criuVerdict(facts.criu);
    const checkpoint = v.ok && !facts.prerequisites.ok ? facts.prerequisites : v;
    return {
      node,
      runtime: { name: 'runc', version: 'local' },
      criu,
      checkpoint: verdict(checkpoint),
      restore: verdict(v),
      checkedAt: now.toISOString(),
    };
  }
  const runtime: NodeRuntime = parseContainerRuntimeVersion(facts.runtimeVersion);
  let checkpoint = checkpointVerdict(runtime, facts.criu);
  if (checkpoint.ok && !facts.prerequisites.ok) checkpoint = facts.prerequisites;
  const restore = restoreVerdict(runtime, facts.criu, facts.containerdSetting);
  return {
    node,
    runtime: { name: runtime.name, version: runtime.version },
    criu,
    checkpoint: verdict(checkpoint),
    restore: verdict(restore),
    checkedAt: now.toISOString(),
  };
}

function verdict(v: Verdict): NodeCapabilities['checkpoint'] {
  return v.ok ? { ok: true } : { ok: false, reason: v.reason ?? 'unknown' };
}

/**
 * Measures what this node can do at start-up and again every `intervalMs`
 * (CRIU may be installed, or containerd reconfigured, after the agent
 * started), and serves the last answer without waiting.
 */
export class NodeCapabilitiesMonitor {
  private last: NodeCapabilities | undefined;
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<NodeCapabilities> | undefined;

  constructor(
    private readonly node: string,
    private readonly sources: CapabilitySources,
    private readonly log: Logger,
    private readonly intervalMs = 60_000,
  ) {}

  /** The last measurement, measuring first if there is none yet. */
  async current(): Promise<NodeCapabilities> {
    return this.last ?? this.refresh();
  }

  refresh(): Promise<NodeCapabilities> {
    this.inFlight ??= this.measure().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  start(): void {
    this.refresh().catch(() => {});
    this.timer = setInterval(() => this.refresh().catch(() => {}), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async measure(): Promise<NodeCapabilities> {
    const s = this.sources;
    const [runtimeVersion, criu, containerdSetting, prerequisites] = await Promise.all([
      s.containerRuntimeVersion().catch((err: Error) => `unknown://(${err.message})`),
      s.criu().catch((err: Error): CriuState => ({ found: false, problem: err.message })),
      s.containerdRestoreSetting().catch(() => undefined),
      s.checkpointPrerequisites().catch((err: Error): Verdict => ({ ok: false, reason: err.message })),
    ]);
    const caps = decideCapabilities(
      this.node,
      { runtimeVersion, criu, containerdSetting, prerequisites },
      new Date(),
    );
    const before = this.last;
    this.last = caps;
    if (
      !before ||
      before.checkpoint.ok !== caps.checkpoint.ok ||
      before.restore.ok !== caps.restore.ok ||
      before.runtime.version !== caps.runtime.version
    ) {
      this.log.info({ capabilities: caps }, 'node capabilities');
    }
    return caps;
  }
}
