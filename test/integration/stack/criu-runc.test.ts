import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import { stackEnv, waitFor } from '../../support/stack.js';

const run = promisify(execFile);

interface Progress {
  counter: number;
  mib: number;
  sweeps: number;
  corrupt: number;
}

async function readProgress(bundle: string): Promise<Progress> {
  const text = await readFile(join(bundle, 'rootfs/state/progress'), 'utf8');
  const fields = Object.fromEntries(
    text
      .trim()
      .split(' ')
      .map((kv) => kv.split('=')),
  );
  return {
    counter: Number(fields.counter),
    mib: Number(fields.mib),
    sweeps: Number(fields.sweeps),
    corrupt: Number(fields.corrupt),
  };
}

/** A runc bundle for the counter workload: the stack's rootfs, a generated spec, stdio inside the container. */
async function makeBundle(dir: string, mib: number): Promise<void> {
  const env = stackEnv();
  await mkdir(dir, { recursive: true });
  await cp(env.rootfs, join(dir, 'rootfs'), { recursive: true, verbatimSymlinks: true });
  await run(env.runc, ['spec'], { cwd: dir });
  const spec = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
  spec.process.terminal = false;
  // stdio reopened on the container's own /dev/null: CRIU cannot dump descriptors to host files.
  spec.process.args = [
    '/bin/sh',
    '-c',
    `exec /usr/local/bin/counter ${mib} /state/progress </dev/null >/dev/null 2>&1`,
  ];
  spec.root.readonly = false;
  await writeFile(join(dir, 'config.json'), JSON.stringify(spec));
}

const work = await mkdtemp(join(tmpdir(), 'spot-rescue-criu-'));
const runcA = join(work, 'runc-a');
const runcB = join(work, 'runc-b');
const id = `criu-test-${process.pid}`;

after(async () => {
  const env = stackEnv();
  for (const root of [runcA, runcB]) {
    await run(env.runc, ['--root', root, 'delete', '--force', id]).catch(() => {});
  }
  await rm(work, { recursive: true, force: true });
});

test('a runc container is checkpointed with CRIU, moved to another bundle, and keeps counting with its memory intact', async () => {
  const env = stackEnv();
  const { stdout: version } = await run(env.criu, ['--version']);
  assert.match(version, /Version: 4\./, 'CRIU 4.x is required');

  const bundleA = join(work, 'bundle-a');
  await makeBundle(bundleA, 96);
  await run(env.runc, ['--root', runcA, 'run', '--detach', '--bundle', bundleA, id]);
  await waitFor(
    'the workload to fill its buffer and count',
    async () => (await readProgress(bundleA)).sweeps >= 1,
  );

  const images = join(work, 'images');
  await run(env.runc, [
    '--root',
    runcA,
    '--criu',
    env.criu,
    'checkpoint',
    '--image-path',
    images,
    '--work-path',
    join(work, 'dump'),
    id,
  ]);
  const atCheckpoint = await readProgress(bundleA);
  const { stdout: listA } = await run(env.runc, ['--root', runcA, 'list', '--quiet']);
  assert.ok(!listA.split('\n').includes(id), 'the original container is gone after the checkpoint');

  // The second "node": its own runc root and a fresh bundle with the same base filesystem.
  const bundleB = join(work, 'bundle-b');
  await makeBundle(bundleB, 96);
  await cp(join(bundleA, 'rootfs/state/progress'), join(bundleB, 'rootfs/state/progress'));
  await run(env.runc, [
    '--root',
    runcB,
    '--criu',
    env.criu,
    'restore',
    '--detach',
    '--image-path',
    images,
    '--work-path',
    join(work, 'restore'),
    '--bundle',
    bundleB,
    id,
  ]);

  const resumed = await waitFor('the restored workload to complete a full verification sweep', async () => {
    const p = await readProgress(bundleB);
    return p.sweeps >= atCheckpoint.sweeps + Math.ceil(96 / 8) + 1 ? p : undefined;
  });
  assert.ok(
    resumed.counter > atCheckpoint.counter,
    `counter continued (${atCheckpoint.counter} -> ${resumed.counter})`,
  );
  assert.ok(
    resumed.counter < atCheckpoint.counter + 10_000,
    'counter did not restart from an unrelated value',
  );
  assert.equal(resumed.mib, 96);
  assert.equal(resumed.corrupt, 0, 'the 96 MiB pattern survived the move byte for byte');
});
