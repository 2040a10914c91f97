import type { CoreV1Api, V1Pod } from '@kubernetes/client-node';
import { MIGRATE_ANNOTATION } from '../../services/common/labels.js';
import { callAgent } from './agent-call.js';
import { parseCounterProgress } from './counter-progress.js';
import type { AgentHandle } from './local-agent.js';
import { waitFor } from './wait-for.js';
import type { WorkerIdentity } from './worker-identity.js';

/**
 * Simulation only. On EKS the kubelet starts a pod's containers; a simulated
 * node has no kubelet, so the demo and the dashboard render create the pod
 * and then ask the node's agent (its runc runtime) to run the stateful
 * workload, infra/workload/counter.c, as the pod's container.
 */

export const COUNTER_CONTAINER = 'counter';

export type CounterProgress = { status: string } & Partial<
  Record<'counter' | 'mib' | 'sweeps' | 'corrupt' | 'pid', number>
>;

export interface CounterWorkloadTarget {
  agent: AgentHandle;
  worker: WorkerIdentity;
  namespace: string;
}

/**
 * An opted-in pod bound to the agent's node whose container is the counter
 * filling `memoryMib` of patterned memory; resolves once the memory is full
 * and verified once, with the pod and that progress.
 */
export async function startCounterWorkload(
  core: CoreV1Api,
  at: CounterWorkloadTarget,
  o: { pod: string; memoryMib: number; cpu: string },
): Promise<{ pod: V1Pod; warm: CounterProgress }> {
  const pod = await core.createNamespacedPod({
    namespace: at.namespace,
    body: {
      metadata: { name: o.pod, labels: { app: 'counter' }, annotations: { [MIGRATE_ANNOTATION]: 'true' } },
      spec: {
        nodeName: at.agent.node,
        containers: [
          {
            name: COUNTER_CONTAINER,
            image: 'registry.local/counter:1',
            resources: { requests: { cpu: o.cpu, memory: `${o.memoryMib + 64}Mi` } },
          },
        ],
      },
    },
  });
  const started = await callAgent(
    at.agent.url,
    await at.worker.tokenFor(at.agent.node),
    'POST',
    '/v1/local/containers',
    {
      namespace: at.namespace,
      pod: o.pod,
      podUid: pod.metadata?.uid,
      container: COUNTER_CONTAINER,
      args: ['/usr/local/bin/counter', String(o.memoryMib), '/state/progress'],
    },
  );
  if (started.status !== 201)
    throw new Error(`could not start the workload ${o.pod}: ${JSON.stringify(started.body)}`);
  const warm = await waitFor(`${o.pod} to fill its memory`, async () => {
    const p = await readCounterProgress(at, o.pod);
    return p && (p.sweeps ?? 0) >= 1 ? p : undefined;
  });
  return { pod, warm };
}

/** The counter's last published progress in `pod` on the agent's node; undefined before it publishes any. */
export async function readCounterProgress(
  at: CounterWorkloadTarget,
  pod: string,
): Promise<CounterProgress | undefined> {
  const r = await callAgent<{ status: string; progress?: string }>(
    at.agent.url,
    await at.worker.tokenFor(at.agent.node),
    'GET',
    `/v1/local/containers/${at.namespace}/${pod}/${COUNTER_CONTAINER}`,
  );
  return r.status === 200 && r.body.progress
    ? { status: r.body.status, ...parseCounterProgress(r.body.progress) }
    : undefined;
}
