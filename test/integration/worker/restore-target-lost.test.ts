import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { forward } from '../../support/http-forward.js';
import { counterContainer, eventRef, TestBed } from './harness.js';

/**
 * A burst reclaims a pool's nodes seconds apart: the node the worker chose
 * for a pod is interrupted itself while its agent restores the pod. The
 * worker gives that target up before creating the copy there, and restores
 * the pod on another node, its state intact. The target's agent sits behind
 * a hop that holds the restore call until the test has interrupted it, so
 * the interruption lands inside the restore every time.
 */
describe('worker: a target interrupted while the pod is restored on it', () => {
  const bed = new TestBed('wtl');
  const { k, ns } = bed;
  const source = bed.node('src');
  const first = bed.node('first');
  const second = bed.node('second');
  let hop: Server;
  const restoreCalls: string[] = [];
  let restoreArrived: () => void = () => {};
  const arrived = new Promise<void>((resolve) => {
    restoreArrived = resolve;
  });
  let letRestoreGo: () => void = () => {};
  const go = new Promise<void>((resolve) => {
    letRestoreGo = resolve;
  });

  before(async () => {
    await bed.setUp({
      nodes: [
        { suffix: 'src' },
        { suffix: 'first', unschedulable: true },
        { suffix: 'second', unschedulable: true },
      ],
    });
    const upstream = new URL(bed.agents[first]!.url);
    hop = createServer((req, res) => {
      if (req.method === 'POST' && req.url?.startsWith('/v1/restores')) {
        restoreCalls.push(req.url);
        restoreArrived();
        void go.then(() => forward(upstream, req, res));
      } else forward(upstream, req, res);
    });
    await new Promise<void>((resolve) => hop.listen(0, '127.0.0.1', resolve));
    bed.onClose(async () => {
      hop.closeAllConnections();
      await new Promise((resolve) => hop.close(resolve));
    });
    const agents = Object.fromEntries(Object.values(bed.agents).map((a) => [a.node, a.url]));
    agents[first] = `http://127.0.0.1:${(hop.address() as AddressInfo).port}`;
    await bed.startWorker({ agents });
  });

  after(() => bed.close());

  test('the target is given up before its copy is created, and the pod is restored on the other node', async () => {
    await bed.createPod('solo', bed.podSpec([counterContainer({ requests: { cpu: '100m' } })]));
    const [original] = await bed.podsToMove(source, 1, [first]);
    const job = await bed.queues.migrate(
      eventRef(120_000),
      { name: source, instanceId: 'i-0123456789abcdef2' },
      original!,
    );

    await arrived;
    // Another warning of the same burst: the listener taints and cordons the first target;
    // room opens on the second.
    await bed.markInterrupted(first);
    await bed.setSchedulable(second, true);
    letRestoreGo();

    const result = await bed.queues.result(job, 120_000);
    assert.equal(result.outcome, 'restored', JSON.stringify(result));
    assert.equal(result.target, second);
    assert.equal(restoreCalls.length, 1, 'the first target was asked to restore once');
    const copy = await bed.waitRestoredCopy(original!, source, second);
    assert.equal(copy.spec?.nodeName, second);
    const events = (await k.core.listNamespacedEvent({ namespace: ns })).items.filter(
      (e) => e.reason === 'RestoreTargetLost',
    );
    assert.equal(events.length, 1, 'one RestoreTargetLost event');
    assert.match(events[0]?.message ?? '', new RegExp(`^${first} was interrupted or cordoned`));
  });
});
