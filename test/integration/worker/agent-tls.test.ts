import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { HttpAgentClient } from '../../../services/worker/agent-client.js';
import { StaticAgentLocator } from '../../../services/worker/agent-locator.js';
import { selfSignedCert, signedCert } from '../../support/tls.js';

// The chart's agent certificate names the agent Service, while the worker dials
// each agent by pod IP: verification must use the configured name.
let dir: string;
let url: string;
let server: ReturnType<typeof createServer>;
/** These tests are about TLS; the token is whatever the source gives. */
const tokens = { tokenFor: async () => 'token-for-test' };

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'agent-tls-'));
  const o = (f: string) => join(dir, f);
  await selfSignedCert(dir, 'ca', '/CN=test-ca');
  await signedCert(dir, 'agent', 'ca', 'spot-rescue-agent.spot-rescue.svc');
  server = createServer(
    { key: await readFile(o('agent.key')), cert: await readFile(o('agent.crt')) },
    (req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({ runtime: 'runc', node: 'n', containers: [], auth: req.headers.authorization }),
      );
    },
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.close();
  await rm(dir, { recursive: true, force: true });
});

const restore = (client: HttpAgentClient) =>
  client.restore(
    'n',
    {
      manifest: { bucket: 'bkt', key: 'k' },
      archives: [{ name: 'c', key: 'k/c.tar.zst', bytesRaw: 1, bytesCompressed: 1, sha256: 'a'.repeat(64) }],
      target: { namespace: 'ns', pod: 'p' },
    },
    AbortSignal.timeout(5000),
  );

test('an agent dialled by IP is verified against the configured server name', async () => {
  const client = new HttpAgentClient({
    locator: new StaticAgentLocator({ n: url }),
    tokens,
    caFile: join(dir, 'ca.crt'),
    tlsServerName: 'spot-rescue-agent.spot-rescue.svc',
  });
  const r = await restore(client);
  assert.equal(r.runtime, 'runc');
});

test('without the server name the IP is checked and the certificate refused', async () => {
  const client = new HttpAgentClient({
    locator: new StaticAgentLocator({ n: url }),
    tokens,
    caFile: join(dir, 'ca.crt'),
  });
  await assert.rejects(
    restore(client),
    /IP: 127\.0\.0\.1 is not in the cert's list|ERR_TLS_CERT_ALTNAME_INVALID|altnames/i,
  );
});

test('a certificate from another CA is refused even with the right name', async () => {
  const other = await selfSignedCert(dir, 'other', '/CN=other');
  const client = new HttpAgentClient({
    locator: new StaticAgentLocator({ n: url }),
    tokens,
    caFile: other,
    tlsServerName: 'spot-rescue-agent.spot-rescue.svc',
  });
  await assert.rejects(restore(client), /self[- ]signed|unable to verify|certificate/i);
});
