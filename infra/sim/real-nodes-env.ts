/**
 * Simulation only. On EKS the nodes are the cluster's own; the local stack
 * runs two real kubelet + containerd nodes beside kwok's simulated ones
 * (infra/lib/real-nodes.sh), and `infra/stack env` exports where they are.
 * Used by the demo's --real-nodes path, the real-node e2e tests and the
 * kubelet-vs-runc benchmark.
 */

export interface RealNode {
  name: string;
  kubeletUrl: string;
  containerdSocket: string;
  checkpointsDir: string;
  zone: string;
  instanceId: string;
}

export interface RealNodesEnv {
  nodes: RealNode[];
  ca: string;
  runtimeBin: string;
  workloadImage: string;
}

/** The real nodes `infra/stack env` exports; fails loudly, saying how to get them, when there are none. */
export function realNodes(): RealNodesEnv {
  const names = (process.env['SPOT_RESCUE_REAL_NODES'] ?? '').split(' ').filter(Boolean);
  if (names.length < 2) {
    throw new Error(
      'the stack has no real nodes (SPOT_RESCUE_REAL_NODES is empty): bring it up without SPOT_RESCUE_REAL_NODES=0 ' +
        'and `eval "$(infra/stack env)"`',
    );
  }
  const need = (v: string): string => {
    const value = process.env[v];
    if (!value) throw new Error(`${v} is not set: \`eval "$(infra/stack env)"\``);
    return value;
  };
  return {
    nodes: names.map((name) => {
      const p = `SPOT_RESCUE_REAL_NODE_${name.toUpperCase().replaceAll('-', '_')}`;
      return {
        name,
        kubeletUrl: need(`${p}_KUBELET_URL`),
        containerdSocket: need(`${p}_CONTAINERD_SOCKET`),
        checkpointsDir: need(`${p}_CHECKPOINTS_DIR`),
        zone: need(`${p}_ZONE`),
        instanceId: need(`${p}_INSTANCE_ID`),
      };
    }),
    ca: need('SPOT_RESCUE_REAL_NODE_CA'),
    runtimeBin: need('SPOT_RESCUE_NODE_RUNTIME_BIN'),
    workloadImage: need('SPOT_RESCUE_WORKLOAD_IMAGE'),
  };
}
