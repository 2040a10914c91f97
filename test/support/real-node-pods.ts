import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { type RealNodeBed, run } from '../../infra/sim/real-node-bed.js';
import type { RealNode } from '../../infra/sim/real-nodes-env.js';
import type { CheckpointRequest } from '../../services/common/agent-api.js';
import { criuDumpOf } from './runc-checkpoint-procs.js';
import { waitFor } from './stack.js';

/**
 * A pod of the counter workload on one of the stack's real nodes, as the
 * real-node tests look at it from outside: what the worker would ask its
 * agent, its container as containerd names it, and whether its memory has
 * been swept (written through) once.
 */

/**
 * The worker's checkpoint request for the pod's `counter` container: into
 * the bed's bucket under the layout the worker uses, due `deadlineMs` from now.
 */
export function counterCheckpointRequest(
  bed: RealNodeBed,
  pod: V1Pod,
  deadlineMs: number,
): CheckpointRequest {
  const name = pod.metadata!.name!;
  const uid = pod.metadata!.uid!;
  const checkpointId = `cp-${randomUUID().slice(0, 8)}`;
  return {
    namespace: bed.namespace,
    pod: name,
    podUid: uid,
    containers: ['counter'],
    checkpointId,
    deadline: new Date(Date.now() + deadlineMs).toISOString(),
    s3: { bucket: bed.bucket, prefix: `real/${bed.namespace}/${name}/${uid}/${checkpointId}` },
  };
}

/** The pod's first container as containerd and its cgroup know it (the status's ID without `containerd://`). */
export function containerdIdOf(pod: V1Pod): string {
  return (pod.status?.containerStatuses?.[0]?.containerID ?? '').replace(/^containerd:\/\//, '');
}

/** Until the counter has swept its whole buffer once: every page is written, so a checkpoint carries it all. */
export async function untilSweptOnce(bed: RealNodeBed, pid: number, timeoutMs = 60_000): Promise<void> {
  await waitFor('the workload to sweep its memory once', async () => (await bed.progress(pid)).sweeps >= 1, {
    timeoutMs,
  });
}

/** The IDs of the pod's containers the node's containerd still runs, one a line; '' when none. */
export async function podContainersOn(bed: RealNodeBed, node: RealNode, podUid: string): Promise<string> {
  const crictl = join(bed.env.runtimeBin, 'crictl');
  const { stdout } = await run(crictl, [
    ...['--runtime-endpoint', `unix://${node.containerdSocket}`, 'ps', '-q'],
    ...['--label', `io.kubernetes.pod.uid=${podUid}`],
  ]);
  return stdout.trim();
}

/** A CRIU dump stopped in its tracks (SIGSTOP) until `resume`. */
export interface HeldDump {
  criuPid: number;
  resume(): void;
}

/**
 * Waits for the CRIU process dumping `containerId` (the child of the runc
 * `checkpoint` containerd started for it) and stops it, so the node is still
 * dumping for as long as a test needs, whatever the machine's speed: an
 * idle machine once finished the dump of 512 MiB within the agent's 2 s
 * deadline, and the test that expected it to be still running failed.
 */
export async function holdDumpOf(containerId: string, timeoutMs = 30_000): Promise<HeldDump> {
  // Every 10 ms: the dump must be caught before it ends.
  const criuPid = await waitFor(
    `a CRIU dump of container ${containerId} to begin`,
    async () => criuDumpOf((arg) => arg === containerId),
    { timeoutMs, intervalMs: 10 },
  );
  process.kill(criuPid, 'SIGSTOP');
  return {
    criuPid,
    resume: () => {
      try {
        process.kill(criuPid, 'SIGCONT');
      } catch (err) {
        // Gone already: a call abandoned at its deadline has containerd kill its runc and CRIU, stopped or not
        // (a cold CI run once got there before the test resumed it). Nothing is left to resume.
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
      }
    },
  };
}
