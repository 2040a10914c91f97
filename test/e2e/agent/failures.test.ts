import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { HeadObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { childrenOf } from '../../../services/agent/runtimes/runc/runc-cli.js';
import { AgentBed, type AgentProcess, call } from '../../support/agent-bed.js';
import { argsOf, runcCheckpoints, statOf } from '../../support/runc-checkpoint-procs.js';
import { stackEnv, waitFor } from '../../support/stack.js';
import { S3FaultProxy } from './s3-fault-proxy.js';

describe('agent: S3 failing and deadlines passing during a checkpoint', () => {
  const bed = new AgentBed();
  const { s3 } = bed;
  const proxy = new S3FaultProxy(stackEnv().awsEndpoint);
  let agent: AgentProcess;

  before(async () => {
    await bed.setUp();
    const endpoint = await proxy.start();
    agent = await bed.startAgent('e2e-f', {
      SPOT_RESCUE_AWS_ENDPOINT: endpoint,
      // Small parts, one at a time: the failure lands mid-archive, after parts went up.
      SPOT_RESCUE_AGENT_PART_SIZE_MIB: '5',
      SPOT_RESCUE_AGENT_UPLOAD_QUEUE_SIZE: '1',
    });
  });

  after(async () => {
    await bed.close();
    await proxy.stop();
  });

  async function startCounter(pod: string) {
    const podUid = await bed.startCounter(agent, pod, { container: 'app', mib: 64, memoryMiB: 192 });
    await bed.waitSwept(agent, pod, 'app');
    return podUid;
  }

  const progress = (pod: string) => bed.progress(agent, pod, 'app');

  function request(pod: string, podUid: string, deadlineMs: number) {
    const checkpointId = `cp-${randomUUID().slice(0, 8)}`;
    return bed.checkpointRequest(pod, podUid, { container: 'app', checkpointId, deadlineMs });
  }

  async function assertNothingStored(prefix: string) {
    const objects = await s3.send(new ListObjectsV2Command({ Bucket: bed.bucket, Prefix: prefix }));
    assert.deepEqual(objects.Contents ?? [], [], 'no object (archive or manifest) remains');
    await assert.rejects(
      s3.send(new HeadObjectCommand({ Bucket: bed.bucket, Key: `${prefix}/app.tar.zst` })),
    );
    const uploads = await s3.send(new ListMultipartUploadsCommand({ Bucket: bed.bucket, Prefix: prefix }));
    assert.deepEqual(uploads.Uploads ?? [], [], 'no multipart upload is left open');
  }

  async function assertRunningAgain(pod: string, before: { values: Record<string, number> }) {
    const again = await waitFor(`${pod} to run on after the abandoned checkpoint`, async () => {
      const p = await progress(pod);
      return p && p.status === 'running' && p.values['counter']! > before.values['counter']! + 10
        ? p
        : undefined;
    });
    assert.equal(again.values['corrupt'], 0);
  }

  test('S3 cutting connections mid-upload: storage-failed, no object, and the container runs on', async () => {
    const podUid = await startCounter('cut');
    const req = request('cut', podUid, 90_000);
    proxy.mode = { kind: 'cut-parts', afterParts: 1 };
    proxy.partsSeen = 0;
    const res = await call(agent, 'POST', '/v1/checkpoints', bed.ids.workerToken, req);
    proxy.mode = { kind: 'pass' };
    assert.equal(res.status, 502, JSON.stringify(res.body));
    assert.equal(res.body['error'], 'storage-failed');
    assert.ok(String(res.body['message']).length > 0);
    assert.ok(proxy.partsSeen > 1 && proxy.partsBroken > 0, 'a part went up before the failure');
    await assertNothingStored(req.s3.prefix);
    const p = await progress('cut');
    assert.ok(p);
    await assertRunningAgain('cut', p);
  });

  test('a checkpoint that cannot finish before its deadline is abandoned in time', async () => {
    const podUid = await startCounter('slow');
    const deadlineMs = 4_000;
    const req = request('slow', podUid, deadlineMs);
    proxy.mode = { kind: 'stall-parts' };
    const started = Date.now();
    const res = await call(agent, 'POST', '/v1/checkpoints', bed.ids.workerToken, req);
    const answeredAfter = Date.now() - started;
    proxy.mode = { kind: 'pass' };
    assert.equal(res.status, 504, JSON.stringify(res.body));
    assert.equal(res.body['error'], 'deadline-exceeded');
    assert.ok(proxy.partsBroken > 0, 'the upload was under way when the deadline passed');
    // Abandoned at the deadline, not when S3 would have given up; the margin covers putting the container back.
    assert.ok(answeredAfter < deadlineMs + 5_000, `answered ${answeredAfter} ms after the request`);
    await assertNothingStored(req.s3.prefix);
    const p = await progress('slow');
    assert.ok(p);
    await assertRunningAgain('slow', p);
  });

  test('a deadline that passes while CRIU is still dumping abandons the dump in time', async () => {
    const pod = 'dumping';
    const podUid = await bed.startCounter(agent, pod, { container: 'app', mib: 1024, memoryMiB: 1152 });
    // The counter fills all of its memory before its first tick.
    await waitFor(`${pod} to fill 1 GiB`, async () => ((await progress(pod))?.values['counter'] ?? 0) >= 1, {
      timeoutMs: 60_000,
    });
    const before = await progress(pod);
    assert.ok(before);
    // Room for the steps before the dump (CRIU's version, runc state), which took over 0.6 s here under
    // load; DumpWatch then holds CRIU mid-dump until the deadline.
    const deadlineMs = 1_500;
    const req = request(pod, podUid, deadlineMs);
    const deadlineAt = Date.parse(req.deadline);
    const imageDir = join(
      stackEnv().stateDir,
      'nodes',
      agent.node,
      'work',
      'checkpoints',
      req.checkpointId,
      'app',
      'checkpoint',
    );
    const watch = new DumpWatch(req.checkpointId, imageDir, deadlineAt);
    let res: Awaited<ReturnType<typeof call<Record<string, unknown>>>>;
    let answeredAt: number;
    try {
      res = await call(agent, 'POST', '/v1/checkpoints', bed.ids.workerToken, req);
      answeredAt = Date.now();
    } finally {
      watch.stop();
    }
    assert.equal(res.status, 504, JSON.stringify(res.body));
    assert.equal(res.body['error'], 'deadline-exceeded');
    // Held from then until the deadline: CRIU was in the middle of the dump when the deadline passed.
    assert.ok(
      watch.heldAt !== undefined && watch.heldAt < deadlineAt,
      `CRIU was seen writing pages before the deadline: ${watch.commands}`,
    );
    const overrun = answeredAt - deadlineAt;
    console.log(`deadline during the dump: answered ${overrun} ms after the deadline`);
    // Stopping CRIU takes milliseconds; the margin is for the rollback (runc state, resume) on a loaded machine.
    assert.ok(overrun < 5_000, `answered ${overrun} ms after the deadline`);
    // Killing runc alone left CRIU writing the whole dump after the answer, the container stopped meanwhile.
    assert.deepEqual(watch.alive(), [], 'no runc or CRIU process of the checkpoint is left');
    await assertNothingStored(req.s3.prefix);
    await assertRunningAgain(pod, before);
  });

  test('a deadline already past is refused before anything is touched', async () => {
    const podUid = await startCounter('late');
    const before = await progress('late');
    const req = request('late', podUid, -1_000);
    const res = await call(agent, 'POST', '/v1/checkpoints', bed.ids.workerToken, req);
    assert.equal(res.status, 504);
    assert.equal(res.body['error'], 'deadline-exceeded');
    assert.ok(before);
    await assertRunningAgain('late', before);
    await assertNothingStored(req.s3.prefix);
  });
});

interface ProcessSeen {
  pid: number;
  startTime: string;
  command: string;
}

/** A process's start time; undefined once it is gone or a zombie. */
function startTimeOf(pid: number): string | undefined {
  const stat = statOf(pid);
  if (!stat || stat.state === 'Z' || stat.state === 'X') return undefined;
  return stat.startTime;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Gone already.
  }
}

/**
 * Watches a checkpoint's `runc checkpoint` (found by its command line) and
 * the CRIU under it. Once CRIU is writing memory pages it is held (SIGSTOP)
 * until the deadline and let go (SIGCONT) then, so the deadline passes in
 * the middle of the dump however fast this machine writes 1 GiB (under a
 * second when idle, several when loaded): a dump that is simply slow.
 */
class DumpWatch {
  private readonly tracked = new Map<number, ProcessSeen>();
  private runcPid: number | undefined;
  private held: number[] = [];
  private readonly timer: NodeJS.Timeout;
  private readonly releaseTimer: NodeJS.Timeout;
  heldAt: number | undefined;

  constructor(
    private readonly checkpointId: string,
    private readonly imageDir: string,
    private readonly deadlineAt: number,
  ) {
    this.timer = setInterval(() => this.tick(), 20);
    this.releaseTimer = setTimeout(() => this.release(), Math.max(0, deadlineAt - Date.now()));
  }

  private track(pid: number, command: string): void {
    const startTime = startTimeOf(pid);
    if (startTime && !this.tracked.has(pid)) this.tracked.set(pid, { pid, startTime, command });
  }

  private tick(): void {
    if (this.runcPid === undefined) {
      // `runc ... checkpoint --image-path <work>/checkpoints/<id>/...` (not a rollback's `runc restore`).
      const [runc] = runcCheckpoints((arg) => arg.includes(this.checkpointId));
      if (runc) {
        this.runcPid = runc.pid;
        this.track(runc.pid, runc.args.join(' ').trim());
      }
    }
    if (this.runcPid !== undefined) {
      for (const c of childrenOf(this.runcPid)) this.track(c, (argsOf(c) ?? []).join(' ').trim());
    }
    if (this.heldAt === undefined && Date.now() < this.deadlineAt && this.writingPages()) {
      this.held = this.runcPid === undefined ? [] : childrenOf(this.runcPid);
      for (const pid of this.held) signal(pid, 'SIGSTOP');
      if (this.held.length > 0) this.heldAt = Date.now();
    }
  }

  private writingPages(): boolean {
    try {
      return readdirSync(this.imageDir).some(
        (f) => f.startsWith('pages-') && statSync(join(this.imageDir, f)).size > 0,
      );
    } catch {
      return false;
    }
  }

  private isAlive(p: ProcessSeen): boolean {
    return startTimeOf(p.pid) === p.startTime;
  }

  private release(): void {
    for (const pid of this.held) signal(pid, 'SIGCONT');
    this.held = [];
  }

  stop(): void {
    clearInterval(this.timer);
    clearTimeout(this.releaseTimer);
    this.release();
  }

  get commands(): string[] {
    return [...this.tracked.values()].map((p) => p.command);
  }

  /** Tracked processes still alive (same pid and start time, not a zombie). */
  alive(): string[] {
    return [...this.tracked.values()].filter((p) => this.isAlive(p)).map((p) => `${p.pid} ${p.command}`);
  }
}
