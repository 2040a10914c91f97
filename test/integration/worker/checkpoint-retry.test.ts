import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { freePort } from '../../support/stack.js';
import { eventRef, TestBed, waitFor } from './harness.js';

/** Progress a migrate-pod job has saved (services/worker/migrate/context.ts). */
type Progress = { stage?: string; checkpointRequested?: boolean };

/**
 * The source node's agent is down for about two seconds (killed, then
 * started again on its address, as its DaemonSet pod would be) exactly when
 * the worker asks it for the checkpoint. With most of the two minutes left
 * the worker asks again until the agent answers, and the pod is restored
 * with its state instead of drained.
 */
describe('worker: the checkpoint is retried within the budget', () => {
  const bed = new TestBed('wckretry');
  const source = bed.node('src');
  const target = bed.node('dst');
  let agentEnv: Record<string, string>;

  before(async () => {
    await bed.setUp({
      nodes: [
        { suffix: 'src', agent: false },
        { suffix: 'dst', unschedulable: true },
      ],
    });
    agentEnv = { SPOT_RESCUE_AGENT_PORT: String(await freePort()) };
    await bed.startAgent(source, agentEnv);
    await bed.startWorker();
  });
  after(() => bed.close());

  test('an agent restart during the checkpoint call: the pod moves, its counter carries on', async () => {
    const original = await bed.soloPodToMove(source, target);
    await bed.crashAgent(source);

    const job = await bed.queues.migrate(
      eventRef(120_000),
      { name: source, instanceId: 'i-0123456789abcde21' },
      original,
    );
    await waitFor(
      'the checkpoint call to be made',
      async () =>
        ((await bed.queues.rescue.getJob(job.id!))?.progress as Progress)?.checkpointRequested || undefined,
      { timeoutMs: 60_000, intervalMs: 20 },
    );
    await new Promise((r) => setTimeout(r, 2000));
    await bed.startAgent(source, agentEnv);

    const result = await bed.queues.result(job, 90_000);
    assert.equal(result?.outcome, 'restored', JSON.stringify(result));
    await bed.waitRestoredCopy(original, source, target);
  });
});
