/**
 * The listener's taint and cordon against the stack's real kube-apiserver,
 * racing the writes a node really gets: its status heartbeats (kwok's, the
 * kubelet's), which must not cost a retry, and another controller's taint,
 * which must not be lost. Every request the tainter makes is recorded.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CoreV1Api,
  createConfiguration,
  PatchStrategy,
  type RequestContext,
  ServerConfiguration,
  setHeaderOptions,
  type V1Node,
  type V1Taint,
} from '@kubernetes/client-node';
import { TAINT_KEY } from '../../../services/common/labels.js';
import { KubeNodeTainter } from '../../../services/listener/node-taint.js';
import { SimCluster } from './sim-cluster.js';

const cluster = new SimCluster();
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const strategicPatch = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);

after(() => cluster.cleanup());

/** A CoreV1Api for the tainter that writes down each request it makes: "PATCH 200", "GET 200", "PATCH 422". */
function recordingCore(calls: string[]): CoreV1Api {
  const kc = cluster.kc;
  const pending: string[] = [];
  return new CoreV1Api(
    createConfiguration({
      baseServer: new ServerConfiguration(kc.getCurrentCluster()!.server, {}),
      authMethods: {
        default: {
          getName: () => kc.getName(),
          applySecurityAuthentication: (c: RequestContext) => kc.applySecurityAuthentication(c),
        },
      },
      promiseMiddleware: [
        {
          pre: async (c: RequestContext) => {
            pending.push(c.getHttpMethod());
            return c;
          },
          post: async (r) => {
            calls.push(`${pending.shift()} ${r.httpStatusCode}`);
            return r;
          },
        },
      ],
    }),
  );
}

/** A status heartbeat as kwok and the kubelet send them: the status subresource, a new resourceVersion. */
async function heartbeat(name: string): Promise<void> {
  const now = new Date().toISOString();
  await cluster.core.patchNodeStatus(
    {
      name,
      body: {
        status: {
          conditions: [
            {
              type: 'Ready',
              status: 'True',
              reason: 'Bench',
              lastHeartbeatTime: now,
              lastTransitionTime: now,
            },
          ],
        },
      },
    },
    strategicPatch,
  );
}

/** Heartbeats one after another until stopped, as a busy node's would. */
function heartbeating(name: string) {
  let on = true;
  let beats = 0;
  const loop = (async () => {
    while (on) {
      await heartbeat(name);
      beats++;
      await sleep(20);
    }
  })();
  return {
    stop: async () => {
      on = false;
      await loop;
      return beats;
    },
  };
}

const ours = { key: TAINT_KEY, value: 'spot-interruption', effect: 'NoSchedule' };
const keys = (n: V1Node) => (n.spec?.taints ?? []).map((t) => t.key).sort();

async function nodeWithTaints(taints: V1Taint[]): Promise<string> {
  const { name } = await cluster.node();
  if (taints.length > 0) await cluster.core.patchNode({ name, body: { spec: { taints } } }, mergePatch);
  return name;
}

describe('tainting and cordoning a node', () => {
  it('while its status is being updated: one PATCH, no conflict, no re-read', async (t) => {
    const name = await nodeWithTaints([]);
    const read = await cluster.readNode(name);
    // The copy the listener acts on is older than the node: its resourceVersion is gone.
    await heartbeat(name);
    const beats = heartbeating(name);
    const calls: string[] = [];
    const result = await new KubeNodeTainter(recordingCore(calls)).taintAndCordon(read, 'spot-interruption');
    t.diagnostic(`${await beats.stop()} heartbeats during the call; requests: ${calls.join(', ')}`);
    const now = await cluster.readNode(name);
    assert.notEqual(now.metadata?.resourceVersion, read.metadata?.resourceVersion);
    assert.equal(result, 'patched');
    assert.deepEqual(calls, ['PATCH 200']);
    assert.equal(now.spec?.unschedulable, true);
    assert.deepEqual(now.spec?.taints, [ours]);
  });

  it('carrying a taint with a time (as the node controller adds them), read through the client: one PATCH', async () => {
    const unreachable = {
      key: 'node.kubernetes.io/unreachable',
      effect: 'NoExecute',
      timeAdded: new Date(Math.floor(Date.now() / 1000) * 1000),
    };
    const name = await nodeWithTaints([unreachable]);
    const read = await cluster.readNode(name);
    assert.ok(read.spec?.taints?.[0]?.timeAdded instanceof Date);
    await heartbeat(name);
    const calls: string[] = [];
    const result = await new KubeNodeTainter(recordingCore(calls)).taintAndCordon(read, 'spot-interruption');
    assert.equal(result, 'patched');
    assert.deepEqual(calls, ['PATCH 200']);
    const now = await cluster.readNode(name);
    assert.deepEqual(keys(now), ['node.kubernetes.io/unreachable', TAINT_KEY]);
    assert.equal(now.spec?.taints?.[0]?.timeAdded?.getTime(), unreachable.timeAdded.getTime());
  });

  it("when another writer changed the taints since they were read: the test fails, the node is read again and patched, the other's taint kept", async () => {
    // No taints when read: the test of an absent list must fail once a list appears.
    const name = await nodeWithTaints([]);
    const read = await cluster.readNode(name);
    const theirs = { key: 'example.com/maintenance', value: 'soon', effect: 'NoSchedule' };
    await cluster.core.patchNode({ name, body: { spec: { taints: [theirs] } } }, mergePatch);
    const calls: string[] = [];
    const result = await new KubeNodeTainter(recordingCore(calls)).taintAndCordon(read, 'spot-interruption');
    assert.equal(result, 'patched');
    assert.deepEqual(calls, ['PATCH 422', 'GET 200', 'PATCH 200']);
    const now = await cluster.readNode(name);
    assert.deepEqual(now.spec?.taints, [theirs, ours]);
    assert.equal(now.spec?.unschedulable, true);
  });

  it('when the other writer removed a taint the listener read: it is not put back', async () => {
    const theirs = { key: 'example.com/maintenance', value: 'soon', effect: 'NoSchedule' };
    const name = await nodeWithTaints([theirs]);
    const read = await cluster.readNode(name);
    await cluster.core.patchNode({ name, body: { spec: { taints: null } } }, mergePatch);
    const calls: string[] = [];
    await new KubeNodeTainter(recordingCore(calls)).taintAndCordon(read, 'spot-interruption');
    assert.deepEqual(calls, ['PATCH 422', 'GET 200', 'PATCH 200']);
    assert.deepEqual((await cluster.readNode(name)).spec?.taints, [ours]);
  });

  it('already tainted with this kind but uncordoned since: cordoned again, taints as they were', async () => {
    const name = await nodeWithTaints([ours]);
    await cluster.core.patchNode({ name, body: { spec: { unschedulable: false } } }, mergePatch);
    const calls: string[] = [];
    const core = recordingCore(calls);
    const tainter = new KubeNodeTainter(core);
    assert.equal(await tainter.taintAndCordon(await cluster.readNode(name), 'spot-interruption'), 'patched');
    const now = await cluster.readNode(name);
    assert.equal(now.spec?.unschedulable, true);
    assert.deepEqual(now.spec?.taints, [ours]);
    assert.equal(await tainter.taintAndCordon(now, 'spot-interruption'), 'unchanged');
    assert.deepEqual(calls, ['PATCH 200']);
  });
});
