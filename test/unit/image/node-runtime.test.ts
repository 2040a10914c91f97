import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

/**
 * The suite is only evidence for what ships if it runs on the Node the image
 * ships: scripts/run-tests and scripts/test put the pinned Node first on PATH
 * (infra/lib/node-env.sh). SPOT_RESCUE_NODE_VERSION runs it on another release
 * on purpose, and then that release is the one expected.
 */
describe('the runtime these tests run on', () => {
  it('is the pinned Node (or the release SPOT_RESCUE_NODE_VERSION asked for)', () => {
    const script = readFileSync(new URL('../../../infra/lib/install-node.sh', import.meta.url), 'utf8');
    const pinned = /^NODE_VERSION=\$\{SPOT_RESCUE_NODE_VERSION:-(\d+\.\d+\.\d+)\}$/m.exec(script)?.[1];
    assert.ok(pinned, 'install-node.sh pins a default NODE_VERSION');
    const expected = process.env['SPOT_RESCUE_NODE_VERSION'] || pinned;
    assert.equal(process.version, `v${expected}`, 'run the tests through scripts/run-tests or scripts/test');
  });
});
