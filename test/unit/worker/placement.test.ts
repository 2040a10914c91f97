import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TAINT_KEY } from '../../../services/common/labels.js';
import {
  choosePlacement,
  type NodeView,
  type PlacementInput,
  type PodDemand,
} from '../../../services/worker/placement.js';
import type { Resources } from '../../../services/worker/pod-resources.js';

const GiB = 2 ** 30;

function node(name: string, o: Partial<NodeView> = {}): NodeView {
  return {
    name,
    labels: {},
    taints: [],
    ready: true,
    unschedulable: false,
    allocatable: { cpuMillis: 4000, memoryBytes: 8 * GiB, pods: 110 },
    zone: 'us-east-1a',
    arch: 'amd64',
    capacityType: 'spot',
    pool: 'm5.large/us-east-1a',
    ...o,
  };
}

function pod(o: Partial<PodDemand> = {}): PodDemand {
  return {
    requests: { cpuMillis: 500, memoryBytes: GiB, pods: 1 },
    tolerations: [],
    nodeSelector: {},
    requiredTerms: [],
    volumeZones: [],
    sourceNode: 'src',
    sourceArch: 'amd64',
    sourcePool: 'm5.large/us-east-1a',
    ...o,
  };
}

function input(p: PodDemand, nodes: NodeView[], o: Partial<PlacementInput> = {}): PlacementInput {
  return { pod: p, nodes, used: new Map(), reserved: new Map(), interrupted: new Set(), ...o };
}

const res = (cpuMillis: number, memoryBytes: number, pods = 1): Resources => ({
  cpuMillis,
  memoryBytes,
  pods,
});

interface Case {
  name: string;
  in: PlacementInput;
  want: string | null;
  /** Expected rejection reason (substring) for a node. */
  reasons?: Record<string, string>;
}

const cases: Case[] = [
  {
    name: 'only other node fits',
    in: input(pod(), [node('src'), node('a')]),
    want: 'a',
    reasons: { src: 'source' },
  },
  {
    name: 'not ready',
    in: input(pod(), [node('a', { ready: false })]),
    want: null,
    reasons: { a: 'not ready' },
  },
  {
    name: 'cordoned',
    in: input(pod(), [node('a', { unschedulable: true })]),
    want: null,
    reasons: { a: 'unschedulable' },
  },
  {
    name: 'interrupted node',
    in: input(pod(), [node('a'), node('b')], { interrupted: new Set(['a']) }),
    want: 'b',
    reasons: { a: 'interrupted' },
  },
  {
    name: 'a node whose agent cannot restore is never a target, even the roomiest on-demand one',
    in: input(pod(), [node('a', { capacityType: 'on-demand' }), node('b')], {
      cannotRestore: new Map([['a', 'cannot restore: criu not found']]),
    }),
    want: 'b',
    reasons: { a: 'cannot restore: criu not found' },
  },
  {
    name: 'spot-rescue taint is never a target, even if tolerated',
    in: input(pod({ tolerations: [{ operator: 'Exists' }] }), [
      node('a', { taints: [{ key: TAINT_KEY, value: 'true', effect: 'NoSchedule' }] }),
    ]),
    want: null,
    reasons: { a: 'tainted by spot-rescue' },
  },
  {
    name: 'untolerated NoSchedule taint',
    in: input(pod(), [node('a', { taints: [{ key: 'gpu', value: 'yes', effect: 'NoSchedule' }] })]),
    want: null,
    reasons: { a: 'untolerated taint gpu' },
  },
  {
    name: 'tolerated taint (Equal)',
    in: input(pod({ tolerations: [{ key: 'gpu', operator: 'Equal', value: 'yes', effect: 'NoSchedule' }] }), [
      node('a', { taints: [{ key: 'gpu', value: 'yes', effect: 'NoSchedule' }] }),
    ]),
    want: 'a',
  },
  {
    name: 'toleration with the wrong value',
    in: input(pod({ tolerations: [{ key: 'gpu', operator: 'Equal', value: 'no' }] }), [
      node('a', { taints: [{ key: 'gpu', value: 'yes', effect: 'NoSchedule' }] }),
    ]),
    want: null,
  },
  {
    name: 'PreferNoSchedule taint does not block',
    in: input(pod(), [node('a', { taints: [{ key: 'x', effect: 'PreferNoSchedule' }] })]),
    want: 'a',
  },
  {
    name: 'nodeSelector',
    in: input(pod({ nodeSelector: { team: 'blue' } }), [node('a'), node('b', { labels: { team: 'blue' } })]),
    want: 'b',
    reasons: { a: 'nodeSelector team=blue' },
  },
  {
    name: 'required node affinity In / NotIn',
    in: input(
      pod({
        requiredTerms: [
          {
            matchExpressions: [
              { key: 'tier', operator: 'In', values: ['x', 'y'] },
              { key: 'bad', operator: 'DoesNotExist' },
            ],
          },
        ],
      }),
      [
        node('a', { labels: { tier: 'z' } }),
        node('b', { labels: { tier: 'y', bad: '1' } }),
        node('c', { labels: { tier: 'x' } }),
      ],
    ),
    want: 'c',
    reasons: { a: 'affinity', b: 'affinity' },
  },
  {
    name: 'affinity terms are ORed',
    in: input(
      pod({
        requiredTerms: [
          { matchExpressions: [{ key: 'k', operator: 'In', values: ['1'] }] },
          { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['b'] }] },
        ],
      }),
      [node('a'), node('b')],
    ),
    want: 'b',
  },
  {
    name: 'affinity Gt',
    in: input(
      pod({ requiredTerms: [{ matchExpressions: [{ key: 'gen', operator: 'Gt', values: ['5'] }] }] }),
      [node('a', { labels: { gen: '5' } }), node('b', { labels: { gen: '6' } })],
    ),
    want: 'b',
  },
  {
    name: 'different arch',
    in: input(pod({ sourceArch: 'arm64' }), [node('a'), node('b', { arch: 'arm64' })]),
    want: 'b',
    reasons: { a: 'arch amd64' },
  },
  {
    name: 'volume zone',
    in: input(pod({ volumeZones: ['us-east-1b'] }), [node('a'), node('b', { zone: 'us-east-1b' })]),
    want: 'b',
    reasons: { a: 'volume zone us-east-1b' },
  },
  {
    name: 'cpu: allocatable minus running pods',
    in: input(pod(), [node('a'), node('b')], { used: new Map([['a', res(3600, 0, 3)]]) }),
    want: 'b',
    reasons: { a: 'insufficient cpu' },
  },
  {
    name: 'memory: reservations count too',
    in: input(pod(), [node('a')], { reserved: new Map([['a', res(0, 7.5 * GiB, 1)]]) }),
    want: null,
    reasons: { a: 'insufficient memory' },
  },
  {
    name: 'exact fit is a fit',
    in: input(pod({ requests: res(4000, 8 * GiB) }), [node('a')]),
    want: 'a',
  },
  {
    name: 'pod count',
    in: input(pod(), [node('a', { allocatable: { cpuMillis: 4000, memoryBytes: 8 * GiB, pods: 2 } })], {
      used: new Map([['a', res(0, 0, 2)]]),
    }),
    want: null,
    reasons: { a: 'too many pods' },
  },
  {
    name: 'on-demand preferred over a roomier spot node',
    in: input(pod(), [
      node('spot', {
        allocatable: { cpuMillis: 64000, memoryBytes: 256 * GiB, pods: 110 },
        pool: 'c5.xlarge/us-east-1a',
      }),
      node('od', { capacityType: 'on-demand', pool: undefined }),
    ]),
    want: 'od',
  },
  {
    name: 'another spot pool preferred over the doomed one',
    in: input(pod(), [node('same'), node('other', { pool: 'c5.large/us-east-1a' })]),
    want: 'other',
  },
  {
    name: 'spread: fewer siblings wins',
    in: input(pod({ ownerKey: 'ns/ReplicaSet/web' }), [node('a'), node('b')], {
      ownerCounts: new Map([['a', new Map([['ns/ReplicaSet/web', 1]])]]),
    }),
    want: 'b',
  },
  {
    name: 'least allocated breaks ties',
    in: input(pod(), [node('a'), node('b')], { used: new Map([['a', res(2000, 0, 1)]]) }),
    want: 'b',
  },
  { name: 'no nodes', in: input(pod(), []), want: null },
];

describe('choosePlacement', () => {
  for (const c of cases) {
    it(c.name, () => {
      const r = choosePlacement(c.in);
      assert.equal(r.node, c.want, JSON.stringify(r.rejected));
      for (const [n, why] of Object.entries(c.reasons ?? {})) {
        assert.ok(r.rejected[n]?.includes(why), `${n}: expected "${why}", got "${r.rejected[n]}"`);
      }
    });
  }

  it('is deterministic on equal scores (name order)', () => {
    const r = choosePlacement(input(pod(), [node('b'), node('a')]));
    assert.equal(r.node, 'a');
  });
});
