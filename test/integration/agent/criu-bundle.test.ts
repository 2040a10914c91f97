import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import { installCriu } from '../../../services/agent/runtimes/kubelet/criu-installer.js';

// The CRIU the agent image ships (infra/lib/criu-bundle.sh, run by the
// Dockerfile's criu stage) installed onto a "node" by the agent's own
// install-criu code, then run the way containerd's runc runs it: as `criu`
// from containerd's opt dir, with nothing of the host's libc involved.

const run = promisify(execFile);
const repo = resolve(import.meta.dirname, '../../..');
const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

test('the image CRIU bundle, installed by install-criu, passes criu check on this kernel', async () => {
  const work = await mkdtemp(join(tmpdir(), 'spot-rescue-criu-bundle-'));
  dirs.push(work);
  const bundle = join(work, 'bundle');
  await run(join(repo, 'infra/lib/criu-bundle.sh'), [bundle], { timeout: 300_000 });

  // hostRoot "/" with a private opt dir: the wrapper's absolute paths are real here.
  const optDir = join(work, 'opt-containerd');
  const configFile = join(work, 'etc-criu', 'default.conf');
  const result = await installCriu({ bundleDir: bundle, hostRoot: '/', optDir, configFile });
  assert.match(result.version, /^4\.(2|[3-9])/);
  assert.equal(result.criu, join(optDir, 'bin', 'criu'));

  const check = await run(result.criu, ['check'], { timeout: 60_000 });
  assert.match(`${check.stdout}${check.stderr}`, /Looks good/);
  const conf = await readFile(configFile, 'utf8');
  assert.match(conf, /^tcp-close$/m);
  assert.match(conf, /^skip-in-flight$/m);

  // A second install of the same bundle changes nothing a running containerd already found.
  const again = await installCriu({ bundleDir: bundle, hostRoot: '/', optDir, configFile });
  assert.equal(again.changed, false);
  assert.equal(again.configWritten, false);
});
