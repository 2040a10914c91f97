import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { NodeLayout, runcIdOf } from '../../../services/agent/node-layout.js';
import { CommandError, run } from '../../../services/agent/process.js';
import { CRIU_CONFIG_ANNOTATION, type OciSpec } from '../../../services/agent/runtimes/runc/oci-spec.js';
import type { Manifest, RestoreResponse } from '../../../services/common/agent-api.js';
import { archiveDigests } from '../../../services/common/agent-api.js';
import { AgentBed, type AgentProcess, call } from '../../support/agent-bed.js';
import { stackEnv, waitFor } from '../../support/stack.js';
import { TCP_ECHO_COMMAND } from '../../support/tcp-echo-workload.js';

/** CRIU 4.1 cannot dump any inet socket on Linux >= 6.16 (SO_PASSCRED is refused there); 4.2 can. */
async function requireCriuForSockets(criu: string): Promise<void> {
  const out = await run(criu, ['--version']);
  const [major = 0, minor = 0] = (/Version:\s*(\d+)\.(\d+)/.exec(out) ?? []).slice(1).map(Number);
  const [kMajor = 0, kMinor = 0] = release().split('.').map(Number);
  const kernelRefuses = kMajor > 6 || (kMajor === 6 && kMinor >= 16);
  if (kernelRefuses && (major < 4 || (major === 4 && minor < 2))) {
    throw new Error(
      `CRIU ${major}.${minor} cannot dump TCP sockets on Linux ${release()} (from 6.16 the kernel refuses ` +
        'SO_PASSCRED/SO_PASSSEC on inet sockets, which CRIU < 4.2 reads): the stack needs CRIU >= 4.2',
    );
  }
}

describe('agent: established TCP connections are closed at checkpoint; the restored workload reconnects', () => {
  const env = stackEnv();
  const bed = new AgentBed();
  const container = 'app';
  let a: AgentProcess;
  let b: AgentProcess;
  let scratch: string;

  before(async () => {
    await requireCriuForSockets(env.criu);
    scratch = await mkdtemp(join(tmpdir(), 'tcp-close-'));
    await bed.setUp();
    [a, b] = await Promise.all([bed.startAgent('tcp-a'), bed.startAgent('tcp-b')]);
  });

  after(async () => {
    await bed.close();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  const progress = async (agent: AgentProcess, pod: string) =>
    (await bed.progress(agent, pod, container))?.values;

  const specOf = async (agent: AgentProcess, pod: string): Promise<OciSpec> => {
    const layout = new NodeLayout(env.stateDir, agent.node);
    const bundle = join(layout.containerDir(runcIdOf(bed.ids.namespace, pod, container)), 'bundle');
    return JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8')) as OciSpec;
  };

  test('an nc client and server move from A to B: the connection closes, the client reconnects, its state stays', async () => {
    const pod = 'talker';
    const podUid = randomUUID();
    const started = await call(a, 'POST', '/v1/local/containers', bed.ids.workerToken, {
      namespace: bed.ids.namespace,
      pod,
      podUid,
      container,
      args: TCP_ECHO_COMMAND,
      memoryMiB: 64,
    });
    assert.equal(started.status, 201, JSON.stringify(started.body));
    bed.track(a, pod, container);
    const first = await waitFor('the client to talk to the server over loopback', async () => {
      const p = await progress(a, pod);
      return p && p['echoes']! >= 5 ? p : undefined;
    });
    assert.equal(first['connections'], 1);

    // A's own CRIU configuration, named by the container's spec, closes TCP connections.
    const layoutA = new NodeLayout(env.stateDir, a.node);
    assert.equal((await specOf(a, pod)).annotations?.[CRIU_CONFIG_ANNOTATION], layoutA.criuConfigFile);
    assert.match(await readFile(layoutA.criuConfigFile, 'utf8'), /^tcp-close$/m);

    // Without it (CRIU ignores a configuration file it cannot open) the same dump fails on the connection,
    // and the container runs on untouched.
    const id = runcIdOf(bed.ids.namespace, pod, container);
    const aside = `${layoutA.criuConfigFile}.aside`;
    await rename(layoutA.criuConfigFile, aside);
    try {
      const work = join(scratch, 'without-tcp-close');
      await assert.rejects(
        run(env.runc, [
          '--root',
          layoutA.runcRoot,
          '--criu',
          env.criu,
          'checkpoint',
          '--leave-running',
          '--image-path',
          join(work, 'images'),
          '--work-path',
          work,
          id,
        ]),
        CommandError,
      );
      assert.match(await readFile(join(work, 'dump.log'), 'utf8'), /Connected TCP socket/);
    } finally {
      await rename(aside, layoutA.criuConfigFile);
    }
    const untouched = await waitFor('the client to go on talking after the failed dump', async () => {
      const p = await progress(a, pod);
      return p && p['echoes']! > first['echoes']! + 3 ? p : undefined;
    });
    assert.equal(untouched['connections'], 1, 'the failed dump left the connection alone');

    const checkpointId = `cp-${randomUUID().slice(0, 8)}`;
    const req = bed.checkpointRequest(pod, podUid, { container, checkpointId, deadlineMs: 60_000 });
    const cp = await call<Manifest>(a, 'POST', '/v1/checkpoints', bed.ids.workerToken, req);
    assert.equal(cp.status, 200, JSON.stringify(cp.body));
    const atCheckpoint = await progress(a, pod);
    assert.ok(atCheckpoint);
    assert.equal(atCheckpoint['connections'], 1);
    assert.equal((await bed.status(a, pod, container)).body.status, 'checkpointed');

    const restored = await call<RestoreResponse>(b, 'POST', '/v1/restores', bed.ids.workerToken, {
      archives: archiveDigests(cp.body),
      manifest: { bucket: bed.bucket, key: `${req.s3.prefix}/manifest.json` },
      target: { namespace: bed.ids.namespace, pod: `${pod}-restored` },
    });
    assert.equal(restored.status, 200, JSON.stringify(restored.body));
    bed.track(b, `${pod}-restored`, container);
    // B restores with its own CRIU configuration, not A's.
    assert.equal(
      (await specOf(b, `${pod}-restored`)).annotations?.[CRIU_CONFIG_ANNOTATION],
      new NodeLayout(env.stateDir, b.node).criuConfigFile,
    );

    const reconnected = await waitFor('the restored client to reconnect and talk again', async () => {
      const p = await progress(b, `${pod}-restored`);
      return p && p['connections']! > atCheckpoint['connections']! && p['echoes']! >= 3 ? p : undefined;
    });
    assert.equal(
      reconnected['connections'],
      atCheckpoint['connections']! + 1,
      'the old connection ended once and the first reconnect succeeded (lo is up, the server still listens)',
    );
    assert.equal(reconnected['boot'], atCheckpoint['boot'], 'the same process, not a restart');
    assert.equal(reconnected['pid'], atCheckpoint['pid']);
    assert.equal((await bed.status(b, `${pod}-restored`, container)).body.status, 'running');
    const later = await waitFor('the new connection to keep going', async () => {
      const p = await progress(b, `${pod}-restored`);
      return p && p['echoes']! > reconnected['echoes']! + 3 ? p : undefined;
    });
    assert.equal(later['connections'], reconnected['connections'], 'one reconnect, then a steady connection');
  });
});
