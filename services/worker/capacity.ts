import {
  AutoScalingClient,
  DescribeAutoScalingGroupsCommand,
  SetDesiredCapacityCommand,
} from '@aws-sdk/client-auto-scaling';
import {
  type _InstanceType,
  CreateFleetCommand,
  type CreateFleetCommandInput,
  DescribeInstancesCommand,
  DescribeInstanceTypesCommand,
  type EC2Client,
  type FleetLaunchTemplateOverridesRequest,
  type Instance,
} from '@aws-sdk/client-ec2';
import type { Redis } from 'ioredis';
import type { ProvisionCapacityJob } from '../common/jobs.js';
import type { Logger } from '../common/logger.js';

/** An instance launched for a rescue. */
export interface LaunchedInstance {
  instanceId: string;
  instanceType: string;
  zone: string;
  privateDnsName: string;
  capacityType: 'spot' | 'on-demand';
}

/** Adds capacity for a rescue; returns the instances it launched itself (none when another system does). */
export interface CapacityProvider {
  readonly mode: string;
  provision(job: ProvisionCapacityJob, log: Logger): Promise<LaunchedInstance[]>;
}

/** `karpenter` / `none`: pending pods are the cluster autoscaler's business; the restore waits for a node. */
export class NoCapacityProvider implements CapacityProvider {
  constructor(readonly mode: 'karpenter' | 'none') {}

  async provision(): Promise<LaunchedInstance[]> {
    return [];
  }
}

const PROVISION_TAG = 'spot-rescue.io/provisioned-for';
const LT_TAG = 'aws:ec2launchtemplate:id';

export interface Ec2FleetOptions {
  launchTemplate?: string | undefined;
  instanceTypes: string[];
  subnets: string[];
  cluster: string;
}

/**
 * `ec2`: an instant EC2 Fleet from the interrupted node group's launch
 * template, diversified over instance types (not the interrupted one: its
 * pool is being reclaimed), Spot first with an On-Demand fleet as the
 * fallback. Instances are tagged with the request, so a retried job finds
 * them instead of launching twice.
 */
export class Ec2FleetCapacity implements CapacityProvider {
  readonly mode = 'ec2';

  constructor(
    private readonly ec2: Pick<EC2Client, 'send'>,
    private readonly o: Ec2FleetOptions,
  ) {}

  async provision(job: ProvisionCapacityJob, log: Logger): Promise<LaunchedInstance[]> {
    const key = `${job.event.id}/${job.node.name}`.slice(0, 255);
    const existing = await this.describe([
      { Name: `tag:${PROVISION_TAG}`, Values: [key] },
      { Name: 'instance-state-name', Values: ['pending', 'running'] },
    ]);
    if (existing.length > 0) return existing;

    const source = (await this.describe([{ Name: 'instance-id', Values: [job.node.instanceId] }]))[0];
    const sourceTags = source ? await this.tagsOf(job.node.instanceId) : {};
    const lt = this.o.launchTemplate ?? sourceTags[LT_TAG];
    if (!lt) throw new Error('no launch template: set SPOT_RESCUE_PROVISION_LAUNCH_TEMPLATE');
    const types = this.o.instanceTypes.filter((t) => t !== source?.instanceType);
    const count = await this.instancesNeeded(types, job);
    const ltSpec = lt.startsWith('lt-')
      ? { LaunchTemplateId: lt, Version: '$Latest' }
      : { LaunchTemplateName: lt, Version: '$Latest' };
    const overrides: FleetLaunchTemplateOverridesRequest[] = types.flatMap((InstanceType) =>
      this.o.subnets.length > 0
        ? this.o.subnets.map(
            (SubnetId): FleetLaunchTemplateOverridesRequest => ({
              InstanceType: InstanceType as _InstanceType,
              SubnetId,
            }),
          )
        : [
            {
              InstanceType: InstanceType as _InstanceType,
              ...(job.zone ? { AvailabilityZone: job.zone } : {}),
            },
          ],
    );
    const tags = [
      { Key: PROVISION_TAG, Value: key },
      { Key: 'spot-rescue.io/cluster', Value: this.o.cluster },
      ...Object.entries(sourceTags)
        .filter(([k]) => !k.startsWith('aws:'))
        .map(([Key, Value]) => ({ Key, Value })),
    ];
    const request = (capacity: 'spot' | 'on-demand'): CreateFleetCommandInput => ({
      Type: 'instant',
      LaunchTemplateConfigs: [{ LaunchTemplateSpecification: ltSpec, Overrides: overrides }],
      TargetCapacitySpecification: { TotalTargetCapacity: count, DefaultTargetCapacityType: capacity },
      ...(capacity === 'spot'
        ? { SpotOptions: { AllocationStrategy: 'price-capacity-optimized' } }
        : { OnDemandOptions: { AllocationStrategy: 'lowest-price' } }),
      TagSpecifications: [{ ResourceType: 'instance', Tags: tags }],
    });
    for (const capacity of ['spot', 'on-demand'] as const) {
      try {
        const out = await this.ec2.send(new CreateFleetCommand(request(capacity)));
        const ids = (out.Instances ?? []).flatMap((i) => i.InstanceIds ?? []);
        if (ids.length > 0) {
          log.info({ ids, capacity, types }, 'launched capacity');
          return await this.describe([{ Name: 'instance-id', Values: ids }]);
        }
        log.warn({ capacity, errors: out.Errors }, 'fleet launched nothing');
      } catch (err) {
        log.warn({ capacity, err: (err as Error).message }, 'fleet request failed');
      }
    }
    throw new Error('neither Spot nor On-Demand capacity could be launched');
  }

  private async instancesNeeded(types: string[], job: ProvisionCapacityJob): Promise<number> {
    try {
      const out = await this.ec2.send(
        new DescribeInstanceTypesCommand({ InstanceTypes: types.slice(0, 1) as never }),
      );
      const t = out.InstanceTypes?.[0];
      const cpu = (t?.VCpuInfo?.DefaultVCpus ?? 0) * 1000 * 0.9;
      const mem = (t?.MemoryInfo?.SizeInMiB ?? 0) * 2 ** 20 * 0.85;
      if (cpu <= 0 || mem <= 0) return 1;
      return Math.max(1, Math.ceil(job.cpuMillis / cpu), Math.ceil(job.memoryBytes / mem));
    } catch {
      return 1;
    }
  }

  private async tagsOf(instanceId: string): Promise<Record<string, string>> {
    const out = await this.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
    const tags = out.Reservations?.[0]?.Instances?.[0]?.Tags ?? [];
    return Object.fromEntries(tags.map((t) => [t.Key ?? '', t.Value ?? '']));
  }

  private async describe(filters: { Name: string; Values: string[] }[]): Promise<LaunchedInstance[]> {
    const out = await this.ec2.send(new DescribeInstancesCommand({ Filters: filters }));
    return (out.Reservations ?? []).flatMap((r) => r.Instances ?? []).map(launched);
  }
}

function launched(i: Instance): LaunchedInstance {
  return {
    instanceId: i.InstanceId ?? '',
    instanceType: i.InstanceType ?? '',
    zone: i.Placement?.AvailabilityZone ?? '',
    privateDnsName: i.PrivateDnsName ?? '',
    capacityType: i.InstanceLifecycle === 'spot' ? 'spot' : 'on-demand',
  };
}

/** `asg`: raise the node group's desired capacity (once per event and node) and let it launch. */
export class AsgCapacity implements CapacityProvider {
  readonly mode = 'asg';

  constructor(
    private readonly asg: Pick<AutoScalingClient, 'send'>,
    private readonly groupName: string,
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  async provision(job: ProvisionCapacityJob, log: Logger): Promise<LaunchedInstance[]> {
    const marker = `${this.prefix}:asg-raised:${job.event.id}:${job.node.name}`;
    if (!(await this.redis.set(marker, '1', 'EX', 24 * 3600, 'NX'))) return [];
    try {
      const out = await this.asg.send(
        new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [this.groupName] }),
      );
      const g = out.AutoScalingGroups?.[0];
      if (!g) throw new Error(`auto scaling group ${this.groupName} not found`);
      const desired = Math.min((g.DesiredCapacity ?? 0) + 1, g.MaxSize ?? Number.MAX_SAFE_INTEGER);
      await this.asg.send(
        new SetDesiredCapacityCommand({
          AutoScalingGroupName: this.groupName,
          DesiredCapacity: desired,
          HonorCooldown: false,
        }),
      );
      log.info({ group: this.groupName, desired }, 'raised desired capacity');
      return [];
    } catch (err) {
      await this.redis.del(marker);
      throw err;
    }
  }
}

export { AutoScalingClient };
