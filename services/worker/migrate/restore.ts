import type { V1Pod } from '@kubernetes/client-node';
import type { RestoreRequest, RestoreResponse } from '../../common/agent-api.js';
import { AgentCallError, type AgentClient } from '../agent-client.js';
import { buildRestoredPod } from '../restored-pod.js';
import type { Run } from './context.js';

/** Restores the checkpoint on the target's agent, retrying what may pass, until the restore deadline. */
export async function restoreOnTarget(run: Run, base: V1Pod, target: string): Promise<RestoreResponse> {
  const { d } = run;
  const t0 = run.now();
  const credentials = await d.archiveAccess?.credentialsFor({
    operation: 'restore',
    node: target,
    bucket: d.config.s3Bucket,
    prefix: run.prefix,
    until: run.restoreDeadline,
  });
  const restore = await d.metrics.stage('restore', () =>
    retryTransient(
      () =>
        restoreOnce(
          d.agents,
          target,
          {
            manifest: { bucket: d.config.s3Bucket, key: run.manifestKey },
            archives: run.progress.archives ?? [],
            target: {
              namespace: run.namespace,
              pod:
                buildRestoredPod({ original: base, targetNode: target, checkpointId: run.checkpointId })
                  .metadata?.name ?? run.name,
            },
            deadline: new Date(run.restoreDeadline).toISOString(),
            ...(credentials ? { credentials } : {}),
          },
          AbortSignal.timeout(Math.max(1, run.restoreDeadline - run.now())),
        ),
      run.restoreDeadline,
      run.now,
      run.sleep,
    ),
  );
  run.log.info({ ms: run.now() - t0, target }, 'restored on target agent');
  return restore;
}

/**
 * A worker killed after the agent restored but before it saved that fact
 * asks again; the agent refuses to restore over the container it already
 * restored for this very pod, which means the work is done.
 */
export async function restoreOnce(
  agents: AgentClient,
  node: string,
  req: RestoreRequest,
  signal: AbortSignal,
): Promise<RestoreResponse> {
  try {
    return await agents.restore(node, req, signal);
  } catch (err) {
    if (err instanceof AgentCallError && err.code === 'already-exists') {
      return { runtime: 'runc', node, containers: [] };
    }
    throw err;
  }
}

export async function retryTransient<T>(
  fn: () => Promise<T>,
  until: number,
  now: () => number,
  sleep: (ms: number) => Promise<void>,
): Promise<T> {
  let wait = 500;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      const transient = (err as { transient?: boolean }).transient === true;
      if (!transient || now() + wait >= until) throw err;
      await sleep(wait);
      wait = Math.min(wait * 2, 5000);
    }
  }
}
