import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  CreateAutoScalingGroupCommand,
  DeleteAutoScalingGroupCommand,
  DescribeAutoScalingGroupsCommand,
} from '@aws-sdk/client-auto-scaling';
import { DescribeInstancesCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import type { V1Pod } from '@kubernetes/client-node';
import { KwokNodeJoiner } from '../../../infra/sim/kwok-node-joiner.js';
import { createAutoScalingClient, createEc2Client } from '../../../services/common/aws.js';
import { RESTORED_FROM_ANNOTATION } from '../../../services/common/labels.js';
import { RESTORED_FROM_LABEL } from '../../../services/worker/restored-pod.js';
import { awsSettings } from '../../support/stack.js';
import { AwsCallLog, counterContainer, eventRef, isReady, TestBed, waitFor } from './harness.js';

/**
 * The provisioning modes other than ec2 (provision.test.ts): `asg` raises the
 * node group's desired capacity through the Auto Scaling API (moto);
 * `karpenter` and `none` leave new capacity to the cluster's own autoscaler
 * and make no AWS call: the checkpointed pod waits for a node to appear.
 * The worker reaches AWS through AwsCallLog, which writes down every call.
 */

/** Pods on the bed's source node with their counters running; the node then tainted as the listener does. */
async function podsOnDoomedNode(bed: TestBed, source: string, names: string[]): Promise<V1Pod[]> {
  for (const name of names) await bed.createPod(name);
  return bed.podsToMove(source, names.length);
}

/**
 * Each original has one restored copy, running on `node`, its counter going
 * on from the checkpoint (as the agent serving `node` tells: `agentNode`'s).
 */
async function assertRestoredOn(
  bed: TestBed,
  source: string,
  originals: V1Pod[],
  node: string,
  agentNode = node,
) {
  const pods = await bed.waitPods(
    `the restored pods running on ${node}`,
    (ps) => ps.length === originals.length && ps.every((p) => isReady(p) && p.spec?.nodeName === node),
    60_000,
  );
  for (const orig of originals) {
    const copy = pods.find((p) => p.metadata?.annotations?.[RESTORED_FROM_ANNOTATION] === orig.metadata?.uid);
    assert.ok(copy, `a restored copy of ${orig.metadata?.name}`);
    const progress = await bed.waitContinued(
      { node: source, pod: orig.metadata!.name! },
      { node: agentNode, pod: copy.metadata!.name! },
    );
    assert.equal(progress['corrupt'], 0, 'memory came back intact');
  }
}

describe('worker: provision mode asg', () => {
  const bed = new TestBed('wasg');
  const { k } = bed;
  const ec2 = createEc2Client(awsSettings());
  const autoscaling = createAutoScalingClient(awsSettings());
  const aws = new AwsCallLog();
  const group = `${bed.sim}-ng`;
  const source = bed.node('src');
  // The joining node is named by EC2 (its private DNS name): one URL routes to the agent of any node that joins.
  let joining: Awaited<ReturnType<TestBed['agentsForJoiningNodes']>>;
  let sourceInstance = '';

  const describeGroup = async () =>
    (await autoscaling.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [group] })))
      .AutoScalingGroups?.[0];

  before(async () => {
    bed.onClose(async () => {
      const ids = ((await describeGroup().catch(() => undefined))?.Instances ?? []).map((i) => i.InstanceId!);
      await autoscaling.send(
        new DeleteAutoScalingGroupCommand({ AutoScalingGroupName: group, ForceDelete: true }),
      );
      if (ids.length > 0) await ec2.send(new TerminateInstancesCommand({ InstanceIds: ids })).catch(() => {});
      await aws.stop();
      ec2.destroy();
      autoscaling.destroy();
    });
    // The node group: a launch template and an Auto Scaling group of one instance, the Spot node to be lost.
    const { subnet } = await bed.launchTemplate(ec2, group);
    await autoscaling.send(
      new CreateAutoScalingGroupCommand({
        AutoScalingGroupName: group,
        LaunchTemplate: { LaunchTemplateName: group, Version: '$Latest' },
        MinSize: 0,
        MaxSize: 5,
        DesiredCapacity: 1,
        VPCZoneIdentifier: subnet,
      }),
    );
    sourceInstance = (await describeGroup())?.Instances?.[0]?.InstanceId ?? '';
    assert.ok(sourceInstance, 'the group launched its first instance');
    await bed.setUp({ nodes: [{ suffix: 'src', instanceId: sourceInstance }] });
    joining = await bed.agentsForJoiningNodes();
    await bed.startWorker({
      agents: { [source]: bed.agents[source]!.url, '*': joining.url },
      extra: {
        SPOT_RESCUE_AWS_ENDPOINT: await aws.start(),
        SPOT_RESCUE_PROVISION_MODE: 'asg',
        SPOT_RESCUE_PROVISION_ASG: group,
      },
    });
  });

  after(() => bed.close());

  test('desired capacity is raised once for the node, and its pods are restored on the node that joins', async () => {
    const originals = await podsOnDoomedNode(bed, source, ['a', 'b']);
    const event = eventRef(120_000);
    const node = { name: source, instanceId: sourceInstance };
    const jobs = await Promise.all(originals.map((p) => bed.queues.migrate(event, node, p)));

    // The instance the group launches boots and registers as a Node (its kubelet's part, locally).
    const launched = await waitFor(
      'the group to launch a second instance',
      async () => (await describeGroup())?.Instances?.find((i) => i.InstanceId !== sourceInstance),
      { timeoutMs: 60_000 },
    );
    const inst = (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [launched.InstanceId!] })))
      .Reservations?.[0]?.Instances?.[0];
    assert.ok(inst?.PrivateDnsName);
    await new KwokNodeJoiner(k.core, ec2, bed.nodeSelector).join({
      instanceId: inst.InstanceId!,
      instanceType: inst.InstanceType!,
      zone: inst.Placement!.AvailabilityZone!,
      privateDnsName: inst.PrivateDnsName,
      capacityType: 'on-demand',
    });
    const joined = inst.PrivateDnsName;

    const results = await bed.queues.results<{ outcome: string; target: string }>(jobs, 120_000);
    assert.deepEqual(
      results.map((r) => [r.outcome, r.target]),
      originals.map(() => ['restored', joined]),
      JSON.stringify(results),
    );
    await assertRestoredOn(bed, source, originals, joined, (await joining.agentOf(joined)).node);

    // Raised once for the node, not once per pod: one more instance, one SetDesiredCapacity call.
    const g = await describeGroup();
    assert.equal(g?.DesiredCapacity, 2);
    assert.equal(g?.Instances?.length, 2);
    assert.deepEqual(
      aws.calls.filter((c) => c.startsWith('autoscaling:')),
      ['autoscaling:DescribeAutoScalingGroups', 'autoscaling:SetDesiredCapacity'],
    );
    assert.deepEqual(
      aws.nonS3.filter((c) => !c.startsWith('autoscaling:')),
      [],
      'no EC2 call: the group launches',
    );
  });
});

for (const mode of ['karpenter', 'none'] as const) {
  describe(`worker: provision mode ${mode}`, () => {
    const bed = new TestBed(mode === 'none' ? 'wnone' : 'wkarp');
    const aws = new AwsCallLog();
    const source = bed.node('src');
    // Named by the test, as the autoscaler would name it later; its agent is up before the node exists.
    const late = bed.node('late');
    let endpoint = '';

    before(async () => {
      bed.onClose(() => aws.stop());
      await bed.setUp({ nodes: [{ suffix: 'src' }] });
      await bed.startAgent(late);
      endpoint = await aws.start();
      await bed.startWorker({
        extra: { SPOT_RESCUE_AWS_ENDPOINT: endpoint, SPOT_RESCUE_PROVISION_MODE: mode },
      });
    });

    after(() => bed.close());

    test('no AWS call; the checkpointed pod waits and is restored on a node that joins later', async () => {
      const [pod] = await podsOnDoomedNode(bed, source, ['solo']);
      const event = eventRef(120_000);
      const job = await bed.queues.migrate(event, { name: source, instanceId: 'i-0123456789abcdef8' }, pod!);
      await bed.waitJobStage(job.id!, ['checkpointed']);
      // Nothing can take it yet: the job waits, the archive safe in S3.
      await new Promise((r) => setTimeout(r, 3000));
      assert.equal(await job.getState(), 'active');
      assert.equal(
        ((await bed.queues.rescue.getJob(job.id!))?.progress as { stage?: string } | undefined)?.stage,
        'checkpointed',
      );

      // The cluster's autoscaler adds a node.
      await bed.addNode({ name: late, zone: 'us-east-1a' });
      const result = await bed.queues.result<{
        outcome: string;
        target: string;
      }>(job, 120_000);
      assert.deepEqual([result?.outcome, result?.target], ['restored', late], JSON.stringify(result));
      await assertRestoredOn(bed, source, [pod!], late);

      assert.deepEqual(aws.nonS3, [], 'no call to EC2 or Auto Scaling');
      assert.ok(aws.calls.includes('s3:GET'), `the worker's S3 reads went through the log: ${aws.calls}`);
      const provision = await bed.queues.provision.getJobs([
        'completed',
        'failed',
        'active',
        'wait',
        'delayed',
      ]);
      if (mode === 'none') assert.equal(provision.length, 0, 'mode none asks for no capacity');
      else {
        // karpenter: the request is made and ends at once, launching nothing itself.
        assert.equal(provision.length, 1);
        assert.deepEqual(provision[0]?.returnvalue, { instances: [], nodes: [] });
      }
    });

    if (mode === 'none')
      test('with no node at all, the pod is evicted once its restore deadline passes', async (t) => {
        const restoreTimeoutSeconds = 1;
        // A worker that waits for a target only one second past the deadline.
        await bed.worker?.close();
        await bed.startWorker({
          extra: {
            SPOT_RESCUE_AWS_ENDPOINT: endpoint,
            SPOT_RESCUE_PROVISION_MODE: mode,
            SPOT_RESCUE_RESTORE_TIMEOUT_SECONDS: String(restoreTimeoutSeconds),
          },
        });
        // A pod on the last node standing, which is then lost too.
        await bed.createPod(
          'lonely',
          bed.podSpec([counterContainer({ limits: { memory: '64Mi' } })], {
            terminationGracePeriodSeconds: 2,
          }),
        );
        const pods = await bed.waitPods('lonely running on the late node', (ps) =>
          ps.some((p) => p.metadata?.name === 'lonely' && isReady(p) && p.spec?.nodeName === late),
        );
        const orig = pods.find((p) => p.metadata?.name === 'lonely')!;
        await bed.startCounters(late, [orig]);
        await bed.markInterrupted(late);
        // 30 s: room for a checkpoint of 64 MiB (~8 s with the safety factor) before the 10 s margin.
        const event = eventRef(30_000);
        const job = await bed.queues.migrate(event, { name: late, instanceId: 'i-0123456789abcdef9' }, orig);
        const result = await bed.queues.result<{
          outcome: string;
          reason: string;
        }>(job, 90_000);
        assert.deepEqual(
          [result?.outcome, result?.reason],
          ['evicted', 'no node can take the pod'],
          JSON.stringify(result),
        );
        const finished = (await bed.queues.rescue.getJob(job.id!))?.finishedOn ?? 0;
        const deadline = Date.parse(event.deadline!);
        const restoreDeadline = deadline + restoreTimeoutSeconds * 1000;
        t.diagnostic(`evicted ${finished - deadline} ms after the event's deadline`);
        assert.ok(finished < restoreDeadline + 10_000, 'evicted as soon as the restore deadline passed');

        const gone = await k8sGone(bed, orig);
        assert.ok(gone, 'the original pod is gone');
        const copies = await bed.k.core.listNamespacedPod({
          namespace: bed.ns,
          labelSelector: `${RESTORED_FROM_LABEL}=${orig.metadata!.uid}`,
        });
        assert.equal(copies.items.length, 0, 'no restored copy');
        const events = (await bed.k.core.listNamespacedEvent({ namespace: bed.ns })).items;
        assert.ok(
          events.some(
            (e) =>
              e.reason === 'RescueFellBackToEviction' &&
              e.involvedObject.uid === orig.metadata!.uid &&
              /no node can take the pod/.test(e.message ?? ''),
          ),
        );
        assert.deepEqual(aws.nonS3, [], 'still no call to EC2 or Auto Scaling');
      });
  });
}

async function k8sGone(bed: TestBed, pod: V1Pod): Promise<boolean> {
  return waitFor(`${pod.metadata?.name} to be gone`, async () => {
    const p = await bed.k.core
      .readNamespacedPod({ name: pod.metadata!.name!, namespace: bed.ns })
      .catch((err: { code?: number }) => {
        if (err.code === 404) return null;
        throw err;
      });
    return !p || p.metadata?.uid !== pod.metadata?.uid;
  });
}
