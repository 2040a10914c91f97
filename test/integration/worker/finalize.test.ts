import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { JOB_NAMES } from '../../../services/common/jobs.js';
import type { WorkerService } from '../../../services/worker/service.js';
import {
  cleanupDir,
  createNode,
  createOptedInNamespace,
  createWorkerIdentity,
  eventRef,
  isReady,
  type Kube,
  kube,
  podsOf,
  SIM_LABEL,
  startInProcessWorker,
  TestQueues,
  uniqueName,
  type WorkerIdentity,
  waitFor,
  waitJobsDone,
  waitNodeReady,
  workerEnv,
} from './harness.js';

/** finalize-node waits for the node's planned pods to leave, then records the node's outcome in Redis. */
describe('worker: finalize-node', () => {
  const k: Kube = kube();
  const sim = uniqueName('wfin');
  const ns = sim;
  const prefix = uniqueName('wq');
  const node = `${sim}-n`;
  let id: WorkerIdentity;
  let worker: WorkerService;
  let queues: TestQueues;

  before(async () => {
    await createOptedInNamespace(k, ns);
    id = await createWorkerIdentity(k, ns);
    await createNode(k, sim, { name: node });
    await waitNodeReady(k, node);
    queues = new TestQueues(prefix);
    worker = await startInProcessWorker(
      workerEnv({ prefix, bucket: 'unused', tokenFile: id.tokenFile, agents: {} }),
    );
  });

  after(async () => {
    await worker?.close();
    await queues?.connection.del(`${prefix}:node-outcome:${node}`);
    await queues?.close();
    await k.core.deleteNamespace({ name: ns }).catch(() => {});
    await k.core.deleteNode({ name: node }).catch(() => {});
    if (id) await cleanupDir(id.dir);
  });

  test('the outcome is recorded once the planned pod has left the node', async () => {
    await k.core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: 'p' },
        spec: { nodeSelector: { [SIM_LABEL]: sim }, containers: [{ name: 'c', image: 'x' }] },
      },
    });
    const pod = await waitFor(
      'the pod',
      async () => {
        const p = (await podsOf(k, ns))[0];
        return p && isReady(p) ? p : undefined;
      },
      { timeoutMs: 120_000 },
    );
    const event = eventRef(60_000);
    const job = await queues.finalize.add(
      JOB_NAMES.finalizeNode,
      {
        event,
        node: { name: node, instanceId: 'i-0123456789abcdef4' },
        podUids: [pod.metadata!.uid!],
        deadline: event.deadline,
      },
      { jobId: `finalize-${sim}` },
    );
    // Still waiting while the pod is there.
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(await job.getState(), 'active');
    await k.core.deleteNamespacedPod({ name: 'p', namespace: ns, gracePeriodSeconds: 0 });
    const [outcome] = (await waitJobsDone(queues.finalize, [job.id!], 60_000)) as {
      planned: number;
      removed: number;
      remaining: number;
    }[];
    assert.deepEqual([outcome?.planned, outcome?.removed, outcome?.remaining], [1, 1, 0]);
    const stored = JSON.parse((await queues.connection.get(`${prefix}:node-outcome:${node}`)) ?? '{}');
    assert.equal(stored.eventId, event.id);
  });
});
