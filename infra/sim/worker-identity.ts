import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { AgentTokens, KubeTokenMinter } from '../../services/worker/agent-tokens.js';

/**
 * Simulation only. On EKS the chart creates the worker's ServiceAccount; on
 * the local stack it is created here, and the simulation uses its tokens to
 * play the kubelet's part on the agents of simulated nodes.
 */

export interface WorkerIdentity {
  serviceAccount: string;
  /**
   * The token the worker presents to one node's agent, minted as the worker
   * mints it (TokenRequest, that node's audience): what the simulation uses
   * to play the kubelet's part on a node's agent.
   */
  tokenFor(node: string): Promise<string>;
}

/** The worker's ServiceAccount; the worker process mints its per-node agent tokens from it as in a cluster. */
export async function createWorkerIdentity(kc: KubeConfig, namespace: string): Promise<WorkerIdentity> {
  const core = kc.makeApiClient(CoreV1Api);
  await core
    .createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'spot-rescue-worker' } } })
    .catch((err) => {
      if ((err as { code?: number }).code !== 409) throw err;
    });
  const tokens = new AgentTokens(new KubeTokenMinter(core, { namespace, name: 'spot-rescue-worker' }), {
    expirationSeconds: 600,
    renewBeforeMs: 120_000,
  });
  return {
    serviceAccount: `system:serviceaccount:${namespace}:spot-rescue-worker`,
    tokenFor: (node) => tokens.tokenFor(node),
  };
}
