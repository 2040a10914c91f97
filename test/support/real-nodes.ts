import { stackEnv } from './stack.js';

// The real kubelet + containerd nodes that `infra/stack up` runs (infra/lib/real-nodes.sh).

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
  stackEnv();
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
