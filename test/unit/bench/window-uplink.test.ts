import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { NodeUplinks, nodeOfArchivePath } from '../../../bench/window-uplink.js';

describe("window benchmark: each simulated node's uplink", () => {
  test("a node's bytes are booked at its rate in arrival order; other nodes have uplinks of their own", () => {
    let now = 1000;
    // 1 MB/s: a byte a millisecond after a 50 ms allowance.
    const uplinks = new NodeUplinks(1000, 50, () => now);
    assert.equal(uplinks.reserve('a', 50), 0, 'within the allowance: sent at once');
    assert.equal(
      uplinks.reserve('a', 100),
      100,
      'booked after the first 50 bytes: 150 ms of sending, 50 ahead',
    );
    assert.equal(uplinks.reserve('b', 100), 50, "node b's uplink is its own");
    now += 150;
    assert.equal(uplinks.reserve('a', 100), 50, 'the first 150 bytes are sent by now');
    now += 10_000;
    assert.equal(uplinks.reserve('a', 10), 0, 'an idle uplink does not save up');
    assert.deepEqual(
      [...uplinks.sent],
      [
        ['a', 260],
        ['b', 100],
      ],
    );
    assert.throws(() => new NodeUplinks(0), /rate above 0/);
  });

  test("an archive's path names its node through its pod, for the worker's and the calibration's prefixes", () => {
    const pods = new Map([
      ['p-0-3', 'win-1-0'],
      ['cal-1a2b3c4d', 'win-1-1'],
    ]);
    assert.equal(nodeOfArchivePath(pods, '/b/win-1/win-1/p-0-3/uid/ck-1/counter.tar.zst'), 'win-1-0');
    assert.equal(nodeOfArchivePath(pods, '/b/calibration/cal-1a2b3c4d/cal-9/app.tar.zst'), 'win-1-1');
    assert.equal(nodeOfArchivePath(pods, '/b/win-1/win-1/p-0-30/uid/ck-1/manifest.json'), undefined);
    assert.equal(nodeOfArchivePath(pods, '/b'), undefined);
  });
});
