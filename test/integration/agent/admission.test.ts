import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { type CheckpointStatus, checkpointStatusSchema } from '../../../services/common/agent-api.js';
import { AgentBed, type AgentProcess, bearer, call } from '../../support/agent-bed.js';
import { stackEnv, waitFor } from '../../support/stack.js';

const MiB = 2 ** 20;

/**
 * Admission on a real agent process (runc, CRIU, moto's S3): the agent
 * answers a checkpoint request at once, from its queue and its throughput
 * estimate, and a checkpoint it refuses never touches the process.
 */
describe('agent: checkpoint admission', () => {
  const bed = new AgentBed();
  let agent: AgentProcess;

  before(async () => {
    await bed.setUp();
    agent = await bed.startAgent('it-adm', {
      // One checkpoint at a time and a known assumption: 32 MiB/s, 1.5 s per checkpoint before any is measured.
      SPOT_RESCUE_AGENT_MAX_CONCURRENT_CHECKPOINTS: '1',
      SPOT_RESCUE_AGENT_ASSUMED_CHECKPOINT_MIBPS: '32',
      SPOT_RESCUE_AGENT_CHECKPOINT_OVERHEAD_MS: '1500',
    });
  });

  after(async () => {
    await bed.close();
  });

  async function startCounter(pod: string): Promise<string> {
    const podUid = await bed.startCounter(agent, pod, { container: 'app', mib: 16, memoryMiB: 96 });
    await bed.waitSwept(agent, pod, 'app');
    return podUid;
  }

  function request(pod: string, podUid: string, o: { deadlineMs: number; memoryMiB: number }) {
    const checkpointId = `cp-${randomUUID().slice(0, 8)}`;
    return {
      ...bed.checkpointRequest(pod, podUid, { container: 'app', checkpointId, deadlineMs: o.deadlineMs }),
      memoryBytes: o.memoryMiB * MiB,
      podStartedAt: new Date(Date.now() - 60_000).toISOString(),
    };
  }

  async function postAsync(body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await fetch(`${agent.url}/v1/checkpoints`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await bearer(bed.ids.workerToken, agent.node)}`,
        'content-type': 'application/json',
        prefer: 'respond-async',
      },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  async function storedObjects(prefix: string): Promise<string[]> {
    const r = await bed.s3.send(new ListObjectsV2Command({ Bucket: bed.bucket, Prefix: prefix }));
    return (r.Contents ?? []).map((o) => o.Key as string);
  }

  /** The directory a dump of this checkpoint would have been written to. */
  const dumpDir = (checkpointId: string) =>
    join(stackEnv().stateDir, 'nodes', agent.node, 'work', 'checkpoints', checkpointId);

  /** Running, never paused by runc, and counting on past where it was. */
  async function assertUntouched(pod: string, checkpointId: string, prefix: string) {
    assert.equal(existsSync(dumpDir(checkpointId)), false, 'no dump was started');
    const before = await bed.progress(agent, pod, 'app');
    assert.equal(before?.status, 'running');
    await waitFor(`${pod} to keep counting`, async () => {
      const now = await bed.progress(agent, pod, 'app');
      return now?.status === 'running' && (now.values['counter'] ?? 0) > (before?.values['counter'] ?? 0);
    });
    assert.deepEqual(await storedObjects(prefix), [], 'nothing stored');
  }

  async function refusals(): Promise<number> {
    const text = await (await fetch(`${agent.url}/metrics`)).text();
    const line = text
      .split('\n')
      .find((l) =>
        l.startsWith(
          'spot_rescue_agent_operations_total{operation="checkpoint",outcome="would-miss-deadline"}',
        ),
      );
    return line ? Number(line.split(' ').at(-1)) : 0;
  }

  async function metric(series: string): Promise<number | undefined> {
    const text = await (await fetch(`${agent.url}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${series} `));
    return line === undefined ? undefined : Number(line.split(' ').at(-1));
  }

  test('a checkpoint that cannot be stored before its deadline is refused at once, and the process never frozen', async () => {
    const podUid = await startCounter('too-big');
    // 4 GiB at the assumed 32 MiB/s is over two minutes; the deadline is 30 s away.
    const req = request('too-big', podUid, { deadlineMs: 30_000, memoryMiB: 4096 });
    const res = await postAsync(req);
    assert.equal(res.status, 422, JSON.stringify(res.body));
    assert.equal(res.body['error'], 'would-miss-deadline');
    // 1.5 s + 128 s at the assumed rate: late at the estimate itself, so no margin comes into it.
    assert.match(String(res.body['message']), /^needs ~129\.5 s at 32 MiB\/s assumed, (29\.\d|30) s left: /);
    const plan = res.body['plan'] as Record<string, unknown>;
    assert.deepEqual(
      { ...plan, leftMs: undefined },
      {
        neededMs: 129_500,
        leftMs: undefined,
        durationMs: 129_500,
        admissionFactor: 1,
        throughput: { bytesPerSec: 32 * MiB, basis: 'assumed' },
      },
      'the body carries the figures the refusal was decided with',
    );
    assert.ok(Number(plan['leftMs']) <= 30_000 && Number(plan['leftMs']) > 25_000, String(plan['leftMs']));
    // The synchronous form is refused the same way, before anything is touched.
    const sync = await call(agent, 'POST', '/v1/checkpoints', bed.ids.workerToken, req);
    assert.equal(sync.status, 422, JSON.stringify(sync.body));
    assert.equal(sync.body['error'], 'would-miss-deadline');
    assert.equal(await refusals(), 2);
    await assertUntouched('too-big', req.checkpointId, req.s3.prefix);
    assert.equal(
      await metric('spot_rescue_agent_checkpoint_rate_bytes_per_second{basis="assumed"}'),
      32 * MiB,
      'the rate it plans with, by basis',
    );
    assert.equal(
      await metric('spot_rescue_agent_checkpoint_rate_bytes_per_second{basis="measured"}'),
      undefined,
    );
  });

  test('one that fits at the estimate but not with the admission margin is refused at once, untouched', async () => {
    const podUid = await startCounter('lucky');
    // 1000 MiB: 1.5 s + 31.25 s = 32.75 s at the assumption, inside a 40 s deadline; 44.2 s counted 1.35x slower.
    const req = request('lucky', podUid, { deadlineMs: 40_000, memoryMiB: 1000 });
    const res = await postAsync(req);
    assert.equal(res.status, 422, JSON.stringify(res.body));
    assert.equal(res.body['error'], 'would-miss-deadline');
    assert.match(
      String(res.body['message']),
      /^needs ~44\.2 s at 32 MiB\/s assumed, (39\.\d|40) s left: .*1\.35x slower/,
    );
    assert.equal((res.body['plan'] as Record<string, unknown>)['durationMs'], 32_750);
    await assertUntouched('lucky', req.checkpointId, req.s3.prefix);
  });

  test('one that can is accepted with its estimate, and stored; one that only fits alone is refused behind it', async () => {
    const firstUid = await startCounter('first');
    const secondUid = await startCounter('second');
    // Alone, 640 MiB takes ~21.5 s at the assumption and fits a 40 s deadline; two in a row do not.
    const first = request('first', firstUid, { deadlineMs: 40_000, memoryMiB: 640 });
    const second = request('second', secondUid, { deadlineMs: 40_000, memoryMiB: 700 });
    const askedAt = Date.now();
    const accepted = await postAsync(first);
    assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
    const status = checkpointStatusSchema.parse(accepted.body);
    assert.equal(status.checkpointId, first.checkpointId);
    assert.ok(status.state === 'queued' || status.state === 'running', status.state);
    assert.ok(status.estimatedStoredAt, 'the acceptance carries its estimate');
    assert.deepEqual(
      status.throughput,
      { bytesPerSec: 32 * MiB, basis: 'assumed' },
      'and the rate behind it',
    );
    const estimate = Date.parse(status.estimatedStoredAt);
    assert.ok(
      estimate > askedAt && estimate <= Date.parse(first.deadline),
      `estimated ${status.estimatedStoredAt}, before the deadline ${first.deadline}`,
    );

    const refused = await postAsync(second);
    assert.equal(refused.status, 422, JSON.stringify(refused.body));
    assert.equal(refused.body['error'], 'would-miss-deadline');
    assert.match(String(refused.body['message']), /with 1 other checkpoint\(s\) admitted on this node/);

    // Asking again for the same checkpoint (a worker's retry) answers with the one in progress.
    const again = await postAsync(first);
    assert.equal(again.status, 202, JSON.stringify(again.body));
    assert.equal(again.body['checkpointId'], first.checkpointId);

    let end: CheckpointStatus = status;
    while (end.state === 'queued' || end.state === 'running') {
      const r = await call(
        agent,
        'GET',
        `/v1/checkpoints/${first.checkpointId}?waitSeconds=20`,
        bed.ids.workerToken,
      );
      assert.equal(r.status, 200, JSON.stringify(r.body));
      end = checkpointStatusSchema.parse(r.body);
    }
    assert.equal(end.state, 'stored', JSON.stringify(end));
    assert.ok(end.throughput, 'the last answer, too, carries the rate the worker may gate this node with');
    assert.deepEqual((await storedObjects(first.s3.prefix)).sort(), [
      `${first.s3.prefix}/app.tar.zst`,
      `${first.s3.prefix}/manifest.json`,
    ]);
    await assertUntouched('second', second.checkpointId, second.s3.prefix);

    const unknown = await call(agent, 'GET', '/v1/checkpoints/cp-nothing', bed.ids.workerToken);
    assert.equal(unknown.status, 404);
    const stranger = await call(agent, 'GET', `/v1/checkpoints/${first.checkpointId}`, bed.ids.strangerToken);
    assert.equal(stranger.status, 403);
  });
});
