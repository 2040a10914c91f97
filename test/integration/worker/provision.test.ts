import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  DescribeInstancesCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { KwokNodeJoiner } from '../../../infra/sim/kwok-node-joiner.js';
import { createEc2Client } from '../../../services/common/aws.js';
import { awsSettings } from '../../support/stack.js';
import { counterContainer, eventRef, isReady, TestBed, waitFor } from './harness.js';

/**
 * No node can take the pod: the worker checkpoints anyway, launches an
 * instance through EC2 CreateFleet (moto) from the node group's launch
 * template, the instance joins as a kwok Node, and the pod is restored there.
 */
describe('worker: provisions capacity when no node fits', () => {
  const bed = new TestBed('wpv');
  const { k, ns } = bed;
  const ec2 = createEc2Client(awsSettings());
  const source = bed.node('src');
  // A new node's name is only known once EC2 names the instance: one URL routes to the agent of any node that joins.
  let joining: Awaited<ReturnType<TestBed['agentsForJoiningNodes']>>;
  const lt = `${bed.sim}-lt`;
  let sourceInstance = '';
  const launched: string[] = [];

  before(async () => {
    await bed.setUp({ nodes: [{ suffix: 'src' }] });
    bed.onClose(async () => {
      if (launched.length > 0)
        await ec2.send(new TerminateInstancesCommand({ InstanceIds: launched })).catch(() => {});
      ec2.destroy();
    });
    const { image, subnet } = await bed.launchTemplate(ec2, lt);
    const run = await ec2.send(
      new RunInstancesCommand({
        ImageId: image,
        InstanceType: 'm5.xlarge',
        MinCount: 1,
        MaxCount: 1,
        SubnetId: subnet,
      }),
    );
    sourceInstance = run.Instances?.[0]?.InstanceId ?? '';
    launched.push(sourceInstance);
    joining = await bed.agentsForJoiningNodes();
    await bed.startWorker({
      agents: { [source]: bed.agents[source]!.url, '*': joining.url },
      extra: {
        SPOT_RESCUE_PROVISION_MODE: 'ec2',
        SPOT_RESCUE_PROVISION_LAUNCH_TEMPLATE: lt,
        SPOT_RESCUE_PROVISION_INSTANCE_TYPES: 'm5.xlarge,m5.large,c5.large',
        SPOT_RESCUE_PROVISION_SUBNETS: subnet,
      },
      // moto's instances have no kubelet: the simulation registers their Nodes.
      overrides: { joiner: new KwokNodeJoiner(k.core, ec2, bed.nodeSelector) },
    });
  });

  after(() => bed.close());

  test('a node launched through EC2 joins and takes the restored pod with its state', async () => {
    await bed.createPod('solo', bed.podSpec([counterContainer({ requests: { cpu: '500m' } })]));
    const [pod] = await bed.waitPods(
      'the pod on the source node',
      (pods) => pods.length === 1 && pods.every(isReady),
    );
    await bed.startCounters(source, [pod!]);
    await bed.markInterrupted(source);
    const event = eventRef(120_000);
    const job = await bed.queues.migrate(event, { name: source, instanceId: sourceInstance }, pod!);
    const result = await bed.queues.result<{
      outcome: string;
      target: string;
    }>(job, 150_000);
    assert.equal(result?.outcome, 'restored', JSON.stringify(result));

    const target = await k.core.readNode({ name: result.target });
    const instanceId = target.spec?.providerID?.split('/').pop() ?? '';
    launched.push(instanceId);
    const inst = (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] })))
      .Reservations?.[0]?.Instances?.[0];
    assert.ok(inst, 'the target node is a real (moto) EC2 instance');
    assert.notEqual(inst.InstanceType, 'm5.xlarge', 'not the interrupted pool');
    assert.ok(inst.Tags?.some((t) => t.Key === 'spot-rescue.io/provisioned-for'));
    assert.equal(target.metadata?.labels?.['topology.kubernetes.io/zone'], 'us-east-1a');

    const restored = await waitFor('the restored pod', async () => {
      const p = await k.core.readNamespacedPod({ name: 'solo', namespace: ns });
      return isReady(p) && p.spec?.nodeName === result.target ? p : undefined;
    });
    assert.ok(restored);
    await bed.waitContinued(
      { node: source, pod: 'solo' },
      { node: (await joining.agentOf(result.target)).node, pod: 'solo' },
    );
    // The provision job records its time when it sees the node Ready, which
    // can come after the migrate job has already used that node.
    await waitFor('the provisioning time to be recorded', async () => {
      const prov = await bed.worker!.metrics.provisioningSeconds.get();
      return prov.values.some(
        (v) => v.labels.result === 'ready' && (v.metricName ?? '').endsWith('_count') && v.value === 1,
      );
    });
  });
});
