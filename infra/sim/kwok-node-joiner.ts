import { DescribeInstanceTypesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import type { CoreV1Api } from '@kubernetes/client-node';
import { statusOf } from '../../services/common/kube.js';
import { providerIdFor } from '../../services/common/provider-id.js';
import type { LaunchedInstance } from '../../services/worker/capacity.js';
import type { NodeJoiner } from '../../services/worker/provision.js';

/**
 * Simulation only. In a cluster a launched instance's own kubelet registers
 * its Node; the local stack's instances are moto's and have none, so a test
 * hands the worker this joiner (WorkerOverrides.joiner), which registers a
 * kwok Node for each instance, with the node group's labels.
 */
export class KwokNodeJoiner implements NodeJoiner {
  constructor(
    private readonly core: CoreV1Api,
    private readonly ec2: Pick<EC2Client, 'send'>,
    private readonly labels: Record<string, string> = {},
  ) {}

  async join(i: LaunchedInstance): Promise<void> {
    const labels = this.labels;
    const name = i.privateDnsName || i.instanceId;
    const out = await this.ec2.send(
      new DescribeInstanceTypesCommand({ InstanceTypes: [i.instanceType as never] }),
    );
    const t = out.InstanceTypes?.[0];
    const cpu = String(t?.VCpuInfo?.DefaultVCpus ?? 2);
    const memory = `${t?.MemoryInfo?.SizeInMiB ?? 4096}Mi`;
    const arch = t?.ProcessorInfo?.SupportedArchitectures?.includes('arm64') ? 'arm64' : 'amd64';
    try {
      await this.core.createNode({
        body: {
          apiVersion: 'v1',
          kind: 'Node',
          metadata: {
            name,
            labels: {
              ...labels,
              'kubernetes.io/hostname': name,
              'kubernetes.io/os': 'linux',
              'kubernetes.io/arch': arch,
              'topology.kubernetes.io/zone': i.zone,
              'topology.kubernetes.io/region': i.zone.replace(/[a-z]$/, ''),
              'node.kubernetes.io/instance-type': i.instanceType,
              'eks.amazonaws.com/capacityType': i.capacityType === 'spot' ? 'SPOT' : 'ON_DEMAND',
              'karpenter.sh/capacity-type': i.capacityType,
              type: 'kwok',
            },
            annotations: { 'kwok.x-k8s.io/node': 'fake' },
          },
          spec: { providerID: providerIdFor(i.zone, i.instanceId) },
          status: {
            capacity: { cpu, memory, pods: '110' },
            allocatable: { cpu, memory, pods: '110' },
          },
        },
      });
    } catch (err) {
      if (statusOf(err) !== 409) throw err;
    }
  }
}
