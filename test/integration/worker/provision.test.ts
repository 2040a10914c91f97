import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  CreateLaunchTemplateCommand,
  DeleteLaunchTemplateCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeSubnetsCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { createEc2Client } from '../../../services/common/aws.js';
import type { WorkerService } from '../../../services/worker/service.js';
import { awsSettings } from '../../support/stack.js';
import {
  type AgentProcess,
  cleanupDir,
  counterOf,
  createBucket,
  createNode,
  createOptedInNamespace,
  createWorkerIdentity,
  deleteBucket,
  eventRef,
  isReady,
  type Kube,
  kube,
  markInterrupted,
  podsOf,
  removeCounter,
  SIM_LABEL,
  s3,
  startAgent,
  startCounter,
  startInProcessWorker,
  TestQueues,
  uniqueName,
  type WorkerIdentity,
  waitFor,
  waitJobsDone,
  waitNodeReady,
  workerEnv,
} from './harness.js';

/**
 * No node can take the pod: the worker checkpoints anyway, launches an
 * instance through EC2 CreateFleet (moto) from the node group's launch
 * template, the instance joins as a kwok Node, and the pod is restored there.
 */
describe('worker: provisions capacity when no node fits', () => {
  const k: Kube = kube();
  const s3c = s3();
  const ec2 = createEc2Client(awsSettings());
  const sim = uniqueName('wpv');
  const ns = sim;
  const prefix = uniqueName('wq');
  const bucket = uniqueName('wbkt');
  const source = `${sim}-src`;
  const lt = `${sim}-lt`;
  let id: WorkerIdentity;
  let worker: WorkerService;
  let queues: TestQueues;
  let srcAgent: AgentProcess;
  let anyAgent: AgentProcess;
  let sourceInstance = '';
  const launched: string[] = [];

  before(async () => {
    await createOptedInNamespace(k, ns);
    id = await createWorkerIdentity(k, ns);
    await createBucket(s3c, bucket);
    await createNode(k, sim, { name: source });
    await waitNodeReady(k, source);
    const image = (await ec2.send(new DescribeImagesCommand({ Owners: ['amazon'] }))).Images?.[0]?.ImageId;
    await ec2.send(
      new CreateLaunchTemplateCommand({
        LaunchTemplateName: lt,
        LaunchTemplateData: { ImageId: image, InstanceType: 'm5.xlarge' },
      }),
    );
    const subnet = (
      await ec2.send(
        new DescribeSubnetsCommand({
          Filters: [
            { Name: 'default-for-az', Values: ['true'] },
            { Name: 'availability-zone', Values: ['us-east-1a'] },
          ],
        }),
      )
    ).Subnets?.[0]?.SubnetId;
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
    srcAgent = await startAgent(source, id.serviceAccount);
    // The new node's name is only known once EC2 names the instance: one agent answers for any other node.
    anyAgent = await startAgent(`${sim}-new`, id.serviceAccount);
    queues = new TestQueues(prefix);
    worker = await startInProcessWorker(
      workerEnv({
        prefix,
        bucket,
        tokenFile: id.tokenFile,
        agents: { [source]: srcAgent.url, '*': anyAgent.url },
        extra: {
          SPOT_RESCUE_PROVISION_MODE: 'ec2',
          SPOT_RESCUE_PROVISION_LAUNCH_TEMPLATE: lt,
          SPOT_RESCUE_PROVISION_INSTANCE_TYPES: 'm5.xlarge,m5.large,c5.large',
          SPOT_RESCUE_PROVISION_SUBNETS: subnet ?? '',
          SPOT_RESCUE_NODE_JOINER: 'kwok',
        },
      }),
      { joinedNodeLabels: { [SIM_LABEL]: sim } },
    );
  });

  after(async () => {
    await worker?.close();
    await queues?.close();
    for (const p of await podsOf(k, ns).catch(() => [])) {
      for (const a of [srcAgent, anyAgent])
        if (a) await removeCounter(a, id.token, ns, p.metadata?.name ?? '');
    }
    await srcAgent?.stop();
    await anyAgent?.stop();
    await k.core.deleteNamespace({ name: ns }).catch(() => {});
    const nodes = await k.core.listNode({ labelSelector: `${SIM_LABEL}=${sim}` });
    for (const n of nodes.items) await k.core.deleteNode({ name: n.metadata!.name! }).catch(() => {});
    if (launched.length > 0)
      await ec2.send(new TerminateInstancesCommand({ InstanceIds: launched })).catch(() => {});
    await ec2.send(new DeleteLaunchTemplateCommand({ LaunchTemplateName: lt })).catch(() => {});
    await deleteBucket(s3c, bucket);
    if (id) await cleanupDir(id.dir);
    ec2.destroy();
  });

  test('a node launched through EC2 joins and takes the restored pod with its state', async () => {
    await k.core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: 'solo' },
        spec: {
          nodeSelector: { [SIM_LABEL]: sim },
          containers: [
            { name: 'counter', image: 'spot-rescue/counter', resources: { requests: { cpu: '500m' } } },
          ],
        },
      },
    });
    const pod = await waitFor(
      'the pod on the source node',
      async () => {
        const p = (await podsOf(k, ns))[0];
        return p && isReady(p) ? p : undefined;
      },
      { timeoutMs: 120_000 },
    );
    await startCounter(srcAgent, id.token, pod);
    await waitFor(
      'the counter',
      async () => ((await counterOf(srcAgent, id.token, ns, 'solo'))?.progress?.['counter'] ?? 0) > 20,
    );
    await markInterrupted(k, source);
    const event = eventRef(120_000);
    const job = await queues.migrate(event, { name: source, instanceId: sourceInstance }, pod);
    const [result] = (await waitJobsDone(queues.rescue, [job.id!], 150_000)) as {
      outcome: string;
      target: string;
    }[];
    assert.equal(result?.outcome, 'restored');

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
    const before = (await counterOf(srcAgent, id.token, ns, 'solo'))?.progress?.['counter'] ?? 0;
    await waitFor('the counter to go on on the new node', async () => {
      const c = await counterOf(anyAgent, id.token, ns, 'solo');
      return c?.status === 'running' && (c.progress?.['counter'] ?? 0) > before;
    });
    // The provision job records its time when it sees the node Ready, which
    // can come after the migrate job has already used that node.
    await waitFor('the provisioning time to be recorded', async () => {
      const prov = await worker.metrics.provisioningSeconds.get();
      return prov.values.some(
        (v) => v.labels.result === 'ready' && (v.metricName ?? '').endsWith('_count') && v.value === 1,
      );
    });
  });
});
