/**
 * The listener's taint and cordon against the stack's real kube-apiserver,
 * racing the writes a node really gets: its status heartbeats (kwok's, the
 * kubelet's), which must not cost a retry, and another writer's taints,
 * which must never be lost. Every request the tainter makes is recorded.
 *
 * The stack's node lifecycle controller writes taints too, so every node
 * here is settled first (SimCluster.settledNode: Ready, the not-ready taint
 * it is born with lifted); from then on the controller's only write is its
 * `node.kubernetes.io/unschedulable` taint in answer to our cordon. Each test
 * waits for that answer, which also shows the controller's write keeps ours,
 * and then asserts the node's other taints exactly.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ApiException,
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
import {
  KubeNodeTainter,
  type TaintPatchOutcome,
  wireTaints,
} from '../../../services/listener/node-taint.js';
import { waitFor } from '../../support/stack.js';
import { SimCluster } from './sim-cluster.js';

const cluster = new SimCluster();
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const strategicPatch = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);

after(() => cluster.cleanup());

/** The taint the node lifecycle controller puts on every cordoned node. */
const CONTROLLER_UNSCHEDULABLE = 'node.kubernetes.io/unschedulable';

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

let beatsSent = 0;

/**
 * A status heartbeat as kwok and the kubelet send them: the status
 * subresource, a new resourceVersion. Condition times are stored in whole
 * seconds, so a beat within the second of the last would change nothing and
 * keep the resourceVersion; the message carries a count so every beat is a
 * write.
 */
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
              reason: 'KubeletReady',
              message: `heartbeat ${++beatsSent}`,
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
const theirs = { key: 'example.com/maintenance', value: 'soon', effect: 'NoSchedule' };

/** A settled node (see the top of the file) carrying these taints, set by another writer. */
async function nodeWithTaints(taints: V1Taint[]): Promise<string> {
  const { name } = await cluster.settledNode();
  if (taints.length > 0) await cluster.core.patchNode({ name, body: { spec: { taints } } }, mergePatch);
  return name;
}

/**
 * The node once the controller has answered our cordon with its taint, and
 * its taints besides that one, as the API server writes them.
 */
async function afterTheControllersAnswer(name: string): Promise<{ node: V1Node; taints: unknown[] }> {
  const node = await waitFor(
    `the node controller's ${CONTROLLER_UNSCHEDULABLE} taint on ${name}`,
    async () => {
      const n = await cluster.readNode(name);
      return n.spec?.taints?.some((t) => t.key === CONTROLLER_UNSCHEDULABLE) ? n : undefined;
    },
  );
  const taints = wireTaints((node.spec?.taints ?? []).filter((t) => t.key !== CONTROLLER_UNSCHEDULABLE));
  return { node, taints };
}

/**
 * Another controller adding its own taint the way Kubernetes' controllers
 * do (PatchNodeTaints): the whole list, guarded by the resourceVersion it
 * read, read again and retried on a conflict.
 */
async function addTheirTaint(name: string, taint: V1Taint): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const node = await cluster.readNode(name);
    const taints = [...(node.spec?.taints ?? []), taint];
    try {
      await cluster.core.patchNode(
        { name, body: { metadata: { resourceVersion: node.metadata?.resourceVersion }, spec: { taints } } },
        mergePatch,
      );
      return;
    } catch (err) {
      if (!(err instanceof ApiException && err.code === 409) || attempt >= 50) throw err;
    }
  }
}

describe('tainting and cordoning a node', () => {
  it('while its status is being updated: one PATCH, no conflict, no re-read', async (t) => {
    const name = await nodeWithTaints([]);
    const read = await cluster.readNode(name);
    // The copy the listener acts on is older than the node: its resourceVersion is gone.
    await heartbeat(name);
    const beaten = await cluster.readNode(name);
    assert.notEqual(beaten.metadata?.resourceVersion, read.metadata?.resourceVersion);
    assert.deepEqual(beaten.spec?.taints, read.spec?.taints);
    const beats = heartbeating(name);
    const calls: string[] = [];
    const result = await new KubeNodeTainter(recordingCore(calls)).taintAndCordon(read, 'spot-interruption');
    t.diagnostic(`${await beats.stop()} heartbeats during the call; requests: ${calls.join(', ')}`);
    assert.deepEqual(calls, ['PATCH 200']);
    assert.equal(result, 'patched');
    const { node, taints } = await afterTheControllersAnswer(name);
    assert.equal(node.spec?.unschedulable, true);
    assert.deepEqual(taints, [ours]);
  });

  it('carrying a taint with a time, read through the client (a Date): one PATCH, the time kept', async () => {
    const draining = {
      key: 'example.com/draining',
      effect: 'NoExecute',
      timeAdded: new Date(Math.floor(Date.now() / 1000) * 1000),
    };
    const name = await nodeWithTaints([draining]);
    const read = await cluster.readNode(name);
    assert.ok(read.spec?.taints?.[0]?.timeAdded instanceof Date);
    await heartbeat(name);
    const calls: string[] = [];
    const result = await new KubeNodeTainter(recordingCore(calls)).taintAndCordon(read, 'spot-interruption');
    assert.deepEqual(calls, ['PATCH 200']);
    assert.equal(result, 'patched');
    const { taints } = await afterTheControllersAnswer(name);
    assert.deepEqual(taints, [
      {
        key: draining.key,
        effect: draining.effect,
        timeAdded: draining.timeAdded.toISOString().replace('.000Z', 'Z'),
      },
      ours,
    ]);
  });

  it("when another writer changed the taints since they were read: the test fails, the node is read again and patched, the other's taint kept", async () => {
    // No taints when read: the test of an absent list must fail once a list appears.
    const name = await nodeWithTaints([]);
    const read = await cluster.readNode(name);
    await cluster.core.patchNode({ name, body: { spec: { taints: [theirs] } } }, mergePatch);
    const calls: string[] = [];
    const outcomes: TaintPatchOutcome[] = [];
    const tainter = new KubeNodeTainter(recordingCore(calls), (o) => outcomes.push(o));
    const result = await tainter.taintAndCordon(read, 'spot-interruption');
    assert.deepEqual(calls, ['PATCH 422', 'GET 200', 'PATCH 200']);
    assert.deepEqual(outcomes, ['taints-changed', 'ok']);
    assert.equal(result, 'patched');
    const { node, taints } = await afterTheControllersAnswer(name);
    assert.deepEqual(taints, [theirs, ours]);
    assert.equal(node.spec?.unschedulable, true);
  });

  it('when the other writer removed a taint the listener read: it is not put back', async () => {
    const name = await nodeWithTaints([theirs]);
    const read = await cluster.readNode(name);
    await cluster.core.patchNode({ name, body: { spec: { taints: null } } }, mergePatch);
    const calls: string[] = [];
    await new KubeNodeTainter(recordingCore(calls)).taintAndCordon(read, 'spot-interruption');
    assert.deepEqual(calls, ['PATCH 422', 'GET 200', 'PATCH 200']);
    assert.deepEqual((await afterTheControllersAnswer(name)).taints, [ours]);
  });

  it('while another writer keeps adding taints and the status keeps changing: every taint of theirs and ours ends on the node', async (t) => {
    const name = await nodeWithTaints([]);
    const read = await cluster.readNode(name);
    const mine = (i: number) => ({ key: `example.com/writer-${i}`, value: 'x', effect: 'NoSchedule' });
    // One write before the listener's, so its first patch surely meets a changed list; two racing it.
    // Each write can fail at most one of the listener's patches: three failures at most, within its five attempts.
    await addTheirTaint(name, mine(0));
    const beats = heartbeating(name);
    const writer = (async () => {
      for (let i = 1; i <= 2; i++) await addTheirTaint(name, mine(i));
    })();
    const calls: string[] = [];
    const result = await new KubeNodeTainter(recordingCore(calls)).taintAndCordon(read, 'spot-interruption');
    await writer;
    t.diagnostic(`${await beats.stop()} heartbeats; the tainter's requests: ${calls.join(', ')}`);
    assert.equal(result, 'patched');
    assert.equal(calls[0], 'PATCH 422');
    assert.equal(calls.at(-1), 'PATCH 200');
    const { node, taints } = await afterTheControllersAnswer(name);
    const keys = (taints as V1Taint[]).map((x) => x.key).sort();
    assert.deepEqual(
      keys,
      [0, 1, 2]
        .map((i) => mine(i).key)
        .concat(TAINT_KEY)
        .sort(),
    );
    assert.equal(node.spec?.unschedulable, true);
  });

  it('already tainted with this kind but not cordoned: cordoned, taints as they were; then nothing to do', async () => {
    const name = await nodeWithTaints([ours]);
    const calls: string[] = [];
    const tainter = new KubeNodeTainter(recordingCore(calls));
    assert.equal(await tainter.taintAndCordon(await cluster.readNode(name), 'spot-interruption'), 'patched');
    const { node, taints } = await afterTheControllersAnswer(name);
    assert.equal(node.spec?.unschedulable, true);
    assert.deepEqual(taints, [ours]);
    assert.equal(await tainter.taintAndCordon(node, 'spot-interruption'), 'unchanged');
    assert.deepEqual(calls, ['PATCH 200']);
  });
});
