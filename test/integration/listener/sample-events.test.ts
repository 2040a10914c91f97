import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Job } from 'bullmq';
import type { JobSigner } from '../../../services/common/job-signature.js';
import { loadJobSigner } from '../../../services/common/job-signing-key.js';
import {
  evictPodJobSchema,
  finalizeNodeJobSchema,
  jobId,
  migratePodJobSchema,
} from '../../../services/common/jobs.js';
import { TAINT_KEY } from '../../../services/common/labels.js';
import { classifyMessage } from '../../../services/listener/classify.js';
import type { ListenerService } from '../../../services/listener/service.js';
import { waitFor } from '../../support/stack.js';
import { inProcessListener, sampleEvent, TestQueues } from './harness.js';
import { randomInstanceId, SimCluster } from './sim-cluster.js';

const cluster = new SimCluster();
const queues = new TestQueues();
let listener: ListenerService;
let plainNs: string;
let optedNs: string;

before(async () => {
  await queues.create();
  plainNs = await cluster.namespace();
  optedNs = await cluster.namespace({ 'spot-rescue.io/migrate': 'enabled' });
  listener = await inProcessListener(queues.config());
  signer = loadJobSigner(queues.jobSigningKeyFile);
});

after(async () => {
  await listener?.stop();
  await cluster.cleanup();
  await queues.cleanup();
});

let signer: JobSigner;

const allJobs = async (): Promise<Job[]> =>
  (await Promise.all(['rescue', 'evict', 'finalize'].map((q) => queues.jobs(q)))).flat();

async function nodeWithPods() {
  const node = await cluster.node();
  const pods = {
    annotated: await cluster.pod(plainNs, node.name, {
      name: `a-${node.name}`,
      annotations: { 'spot-rescue.io/migrate': 'true' },
    }),
    plain: await cluster.pod(plainNs, node.name, { name: `p-${node.name}` }),
    inOptedNs: await cluster.pod(optedNs, node.name, { name: `o-${node.name}` }),
  };
  // The listener plans from its informer cache: wait until it has seen the pods.
  await waitFor(
    'pods in the cache',
    async () =>
      (await cluster.core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${node.name}` })).items
        .length === 3,
  );
  return { node, pods };
}

async function tainted(nodeName: string) {
  const n = await cluster.readNode(nodeName);
  return n.spec?.unschedulable === true ? n.spec.taints?.find((t) => t.key === TAINT_KEY) : undefined;
}

const drained: [string, string][] = [
  ['spot-interruption-warning.json', 'spot-interruption'],
  ['capacity-reservation-interruption-warning.json', 'capacity-reservation-interruption'],
  ['instance-state-change-terminated.json', 'instance-state-change'],
  ['health-scheduled-change.json', 'scheduled-maintenance'],
  ['asg-terminate-lifecycle-eventbridge.json', 'asg-lifecycle-terminate'],
  ['asg-terminate-lifecycle-direct.json', 'asg-lifecycle-terminate'],
  ['cloudwatch-alarm-state-change.json', 'cloudwatch-alarm'],
  ['cloudwatch-alarm-via-sns.json', 'cloudwatch-alarm'],
];

describe('every sample event on the queue', () => {
  for (const [file, kind] of drained) {
    it(`${file}: node tainted ${kind} and cordoned; migrate, evict and finalize jobs in Redis; message deleted`, async () => {
      const { node, pods } = await nodeWithPods();
      const body = sampleEvent(file, node.instanceId);
      const c = classifyMessage(body, { now: new Date(), config: queues.config() });
      assert.equal(c.outcome, 'act');
      const eventId = c.outcome === 'act' ? c.event.eventId : '';
      await queues.send(body);

      const taint = await waitFor('node tainted and cordoned', () => tainted(node.name));
      assert.deepEqual({ ...taint }, { key: TAINT_KEY, value: kind, effect: 'NoSchedule' });
      const jobs = await waitFor('4 jobs for the node', async () => {
        const mine = (await allJobs()).filter((j) => j.data.node.name === node.name);
        return mine.length >= 4 && mine;
      });
      const ids = jobs.map((j) => `${j.queueName}/${j.name}/${j.id}`).sort();
      assert.deepEqual(
        ids,
        [
          `evict/evict-pod/${jobId('evict-pod', eventId, pods.plain.metadata!.uid!)}`,
          `finalize/finalize-node/${jobId('finalize-node', eventId, node.instanceId)}`,
          `rescue/migrate-pod/${jobId('migrate-pod', eventId, pods.annotated.metadata!.uid!)}`,
          `rescue/migrate-pod/${jobId('migrate-pod', eventId, pods.inOptedNs.metadata!.uid!)}`,
        ].sort(),
      );
      const schemas = {
        'migrate-pod': migratePodJobSchema,
        'evict-pod': evictPodJobSchema,
        'finalize-node': finalizeNodeJobSchema,
      } as const;
      for (const j of jobs) {
        // The worker reads these with the shared schemas, once their signature holds under the listener's key.
        schemas[j.name as keyof typeof schemas].parse(j.data);
        assert.equal(
          signer.problem({ queue: j.queueName, name: j.name, id: j.id! }, j.data),
          undefined,
          `${j.id} is signed`,
        );
        assert.equal(j.data.event.id, eventId);
        assert.equal(j.data.event.kind, kind);
        assert.deepEqual(j.data.node, { name: node.name, instanceId: node.instanceId, zone: node.zone });
      }
      const fin = jobs.find((j) => j.name === 'finalize-node')!;
      assert.equal(fin.data.podUids.length, 3);
      if (kind === 'asg-lifecycle-terminate') {
        assert.deepEqual(fin.data.event.lifecycleAction, {
          autoScalingGroupName: 'spot-workers',
          lifecycleHookName: 'spot-rescue-drain',
          lifecycleActionToken: eventId,
          instanceId: node.instanceId,
        });
      }
      await waitFor('message deleted', async () => (await queues.depth()) === 0);
    });
  }

  it('rebalance recommendation (default policy cordon): tainted and cordoned, no jobs', async () => {
    const { node } = await nodeWithPods();
    await queues.send(sampleEvent('rebalance-recommendation.json', node.instanceId));
    const taint = await waitFor('node tainted and cordoned', () => tainted(node.name));
    assert.equal(taint.value, 'rebalance-recommendation');
    await waitFor('message deleted', async () => (await queues.depth()) === 0);
    assert.equal((await allJobs()).filter((j) => j.data.node.name === node.name).length, 0);
  });

  it('rebalance recommendation with policy migrate: pod jobs get the rebalance budget as deadline', async () => {
    const own = await new TestQueues().create();
    const migrating = await inProcessListener(
      own.config({
        SPOT_RESCUE_REBALANCE_POLICY: 'migrate',
        SPOT_RESCUE_REBALANCE_MIGRATE_BUDGET_SECONDS: '600',
      }),
    );
    try {
      const { node } = await nodeWithPods();
      const sentAt = Date.now();
      await own.send(sampleEvent('rebalance-recommendation.json', node.instanceId));
      const jobs = await waitFor('4 jobs', async () => {
        const j = (await Promise.all(['rescue', 'evict', 'finalize'].map((q) => own.jobs(q)))).flat();
        return j.length >= 4 && j;
      });
      assert.deepEqual(jobs.map((j) => j.name).sort(), [
        'evict-pod',
        'finalize-node',
        'migrate-pod',
        'migrate-pod',
      ]);
      for (const j of jobs) {
        assert.equal(j.data.event.deadline, null);
        if (j.name === 'finalize-node') {
          finalizeNodeJobSchema.parse(j.data);
          assert.equal(j.data.deadline, null);
        } else {
          const budget = Date.parse(j.data.deadline) - sentAt;
          assert.ok(budget > 590_000 && budget <= 600_000 + 60_000, `deadline ${j.data.deadline}`);
        }
      }
      const taint = await waitFor('node tainted and cordoned', () => tainted(node.name));
      assert.equal(taint.value, 'rebalance-recommendation');
    } finally {
      await migrating.stop();
      await own.cleanup();
    }
  });

  it('ASG test notification: deleted, nothing done', async () => {
    await queues.send(sampleEvent('asg-test-notification.json', randomInstanceId()));
    await waitFor('message deleted', async () => (await queues.depth()) === 0);
    const metrics = await listener.registry.metrics();
    assert.match(metrics, /spot_rescue_listener_events_total\{kind="none",outcome="ignore"\} 1/);
  });

  it('an instance not in this cluster is counted and its message deleted', async () => {
    await queues.send(sampleEvent('spot-interruption-warning.json', randomInstanceId()));
    await waitFor('message deleted', async () => (await queues.depth()) === 0);
    const metrics = await listener.registry.metrics();
    assert.match(
      metrics,
      /spot_rescue_listener_instances_total\{kind="spot-interruption",result="unknown-instance"\} 1/,
    );
  });

  it('malformed messages land in the DLQ with their reason, and leave the main queue', async () => {
    await queues.send('{"this is": not json');
    await queues.send(sampleEvent('spot-interruption-warning.json', 'i-NOTANID'));
    await waitFor('main queue drained', async () => (await queues.depth()) === 0);
    const dead = await waitFor('2 messages in the DLQ', async () => {
      const got = [...(await queues.receiveDlq()), ...(await queues.receiveDlq())];
      return got.length >= 2 && got;
    });
    const reasons = dead.map((m) => m.MessageAttributes?.['spot-rescue-reject-reason']?.StringValue).sort();
    assert.equal(
      reasons[0],
      'malformed EC2 Spot Instance Interruption Warning: detail.instance-id: instance id must match ^i-[0-9a-f]{8,17}$',
    );
    assert.equal(reasons[1], 'message body is not a JSON object');
    assert.ok(
      dead.some((m) => m.Body === '{"this is": not json'),
      'the DLQ holds the original body',
    );
    const scraped = await listener.registry.metrics();
    assert.match(scraped, /spot_rescue_listener_dlq_sends_total 2/);
    // Read from SQS at scrape time: the two messages, received above and so in flight, still count.
    assert.match(scraped, /^spot_rescue_listener_dlq_messages 2$/m);
  });
});
