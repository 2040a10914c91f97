import type { V1Node, V1NodeSystemInfo, V1Taint } from '@kubernetes/client-node';
import { providerIdFor } from '../../services/common/provider-id.js';

/**
 * A Node object kwok adopts and keeps Ready (its `kwok.x-k8s.io/node`
 * annotation), as a kubelet registers it: what the node can hold, and the
 * EC2 instance behind it in `spec.providerID` as EKS writes it. Each caller
 * brings its own labels: an EKS node group's, a test bed's selector.
 */
export interface KwokNodeSpec {
  name: string;
  labels: Record<string, string>;
  /** The instance the node runs on; none for a node nothing resolves to an instance. */
  instance?: { zone: string; instanceId: string };
  cpu: string;
  memory: string;
  pods?: string;
  taints?: V1Taint[];
  unschedulable?: boolean;
  annotations?: Record<string, string>;
  nodeInfo?: V1NodeSystemInfo;
}

export function kwokNode(s: KwokNodeSpec): V1Node {
  const resources = { cpu: s.cpu, memory: s.memory, pods: s.pods ?? '110' };
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: s.name,
      labels: s.labels,
      annotations: { 'kwok.x-k8s.io/node': 'fake', ...s.annotations },
    },
    spec: {
      ...(s.instance ? { providerID: providerIdFor(s.instance.zone, s.instance.instanceId) } : {}),
      ...(s.taints ? { taints: s.taints } : {}),
      ...(s.unschedulable !== undefined ? { unschedulable: s.unschedulable } : {}),
    },
    status: { capacity: resources, allocatable: resources, ...(s.nodeInfo ? { nodeInfo: s.nodeInfo } : {}) },
  };
}
