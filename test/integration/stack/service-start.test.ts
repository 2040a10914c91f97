import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';

// The stack's start-up check (infra/lib/services.sh) against services that
// exec through a wrapper slowly, as a cold kube-apiserver does on a first run:
// the check must never call a running service "exited", and must still notice
// one that really exits.

const run = promisify(execFile);
const repo = resolve(import.meta.dirname, '../../..');
let dir: string;

/** Runs a bash snippet with common.sh and services.sh sourced into a private state dir. */
async function stack(snippet: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const script = [
    `source ${JSON.stringify(join(repo, 'infra/lib/common.sh'))}`,
    `source ${JSON.stringify(join(repo, 'infra/lib/services.sh'))}`,
    `RUN_DIR=${JSON.stringify(join(dir, 'run'))}`,
    `LOG_DIR=${JSON.stringify(join(dir, 'logs'))}`,
    snippet,
  ].join('\n');
  try {
    const r = await run('bash', ['-c', script], {
      env: { ...process.env, SPOT_RESCUE_STATE_DIR: dir },
      timeout: 60_000,
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'spot-rescue-service-start-'));
  // Sleeps, then execs into another program that takes a moment more to be
  // ready: its command line changes completely while it comes up (a check
  // that matched the command line called it exited on every start: the
  // 0.6 s after the exec always holds one of its half-second polls).
  await writeFile(
    join(dir, 'slow-exec'),
    '#!/bin/sh\nsleep "$1"\nexec /bin/sh -c \'sleep 0.6; touch "$0"; exec sleep 120\' "$2"\n',
  );
  await writeFile(join(dir, 'dies'), '#!/bin/sh\nsleep 0.3\necho "fatal: port in use" >&2\nexit 3\n');
  await chmod(join(dir, 'slow-exec'), 0o755);
  await chmod(join(dir, 'dies'), 0o755);
});

after(async () => {
  await stack('stop_service slow; stop_service dies');
  await rm(dir, { recursive: true, force: true });
});

test('a service that execs slowly through a wrapper is never reported exited (12 starts in a row)', async () => {
  const starts = 12;
  const r = await stack(`
    ok=0
    for i in $(seq 1 ${starts}); do
      rm -f "${dir}/ready"
      start_service slow "${dir}/slow-exec" "0.$((RANDOM % 4 + 1))" "${dir}/ready"
      wait_for slow 'test -f "${dir}/ready"' 40
      service_pid slow >/dev/null || { echo "not running after ready"; exit 1; }
      stop_service slow 2>/dev/null
      service_pid slow >/dev/null && { echo "still running after stop"; exit 1; }
      ok=$((ok + 1))
    done
    echo "ready=$ok"
  `);
  assert.equal(r.code, 0, `start-up check failed: ${r.stdout}${r.stderr}`);
  assert.match(r.stdout, new RegExp(`ready=${starts}`));
  assert.doesNotMatch(r.stderr, /exited during start-up/);
});

test('a service that really exits during start-up is reported at once, with its log', async () => {
  const t0 = Date.now();
  const r = await stack(`start_service dies "${dir}/dies"; wait_for dies 'false' 120`);
  const ms = Date.now() - t0;
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /dies exited during start-up/);
  assert.match(r.stderr, /fatal: port in use/);
  // 120 tries would be 60 s: it must have stopped waiting long before.
  assert.ok(ms < 20_000, `took ${ms} ms to notice the exit`);
});

test("a service does not inherit the caller's descriptors, so a lock around infra/stack up is released", async () => {
  const lock = join(dir, 'stack.lock');
  const r = await stack(`
    exec 9>"${lock}"
    flock -n 9 || { echo "lock busy before start"; exit 1; }
    start_service holder "${dir}/slow-exec" 0.1 "${dir}/holder-ready"
    wait_for holder 'test -f "${dir}/holder-ready"' 40
  `);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  try {
    // The snippet's shell has exited; only the service could still hold the lock.
    const probe = await run('flock', ['-n', lock, 'true']).then(
      () => 'free',
      () => 'held',
    );
    assert.equal(probe, 'free');
  } finally {
    await stack('stop_service holder');
  }
});

test('a stale pid file naming another live process is not taken for the service', async () => {
  // This test process is alive, but was not started as "ghost": its start time differs.
  await writeFile(join(dir, 'run', 'ghost.pid'), `${process.pid} 1\n`);
  const r = await stack('service_pid ghost && echo alive || echo gone');
  assert.equal(r.stdout.trim(), 'gone');
  const pidFile = await readFile(join(dir, 'run', 'ghost.pid'), 'utf8');
  assert.match(pidFile, new RegExp(`^${process.pid} `));
});
