import assert from 'node:assert/strict';
import { test } from 'node:test';
import { planAgentProcessGroups } from '../../../infra/sim/agent-process-groups.js';

const nodes = ['n-0', 'n-1', 'n-2', 'n-3', 'n-4'].map((name) => ({ name, instanceId: `i-${name}` }));
const names = (groups: { nodes: { name: string }[]; nice: number }[]) =>
  groups.map((g) => ({ nodes: g.nodes.map((n) => n.name), nice: g.nice }));

test('one agent a process: a group per node, in the nodes order, at normal priority', () => {
  assert.deepEqual(names(planAgentProcessGroups(nodes, 1)), [
    { nodes: ['n-0'], nice: 0 },
    { nodes: ['n-1'], nice: 0 },
    { nodes: ['n-2'], nice: 0 },
    { nodes: ['n-3'], nice: 0 },
    { nodes: ['n-4'], nice: 0 },
  ]);
});

test('several agents a process: full groups first, the rest in a last one', () => {
  assert.deepEqual(names(planAgentProcessGroups(nodes, 2)), [
    { nodes: ['n-0', 'n-1'], nice: 0 },
    { nodes: ['n-2', 'n-3'], nice: 0 },
    { nodes: ['n-4'], nice: 0 },
  ]);
});

test('restore-only nodes share no process with a doomed node and run at a lower priority, after them', () => {
  assert.deepEqual(names(planAgentProcessGroups(nodes, 2, new Set(['n-1', 'n-3']))), [
    { nodes: ['n-0', 'n-2'], nice: 0 },
    { nodes: ['n-4'], nice: 0 },
    { nodes: ['n-1', 'n-3'], nice: 10 },
  ]);
});

test('every node lands in exactly one group, whatever the packing', () => {
  for (const perProcess of [1, 2, 3, 5, 8])
    for (const restoreOnly of [new Set<string>(), new Set(['n-0']), new Set(nodes.map((n) => n.name))]) {
      const groups = planAgentProcessGroups(nodes, perProcess, restoreOnly);
      assert.deepEqual(
        groups.flatMap((g) => g.nodes.map((n) => n.name)).sort(),
        nodes.map((n) => n.name),
      );
      for (const g of groups) {
        assert.ok(g.nodes.length >= 1 && g.nodes.length <= perProcess);
        assert.equal(g.nice, restoreOnly.has(g.nodes[0]?.name as string) ? 10 : 0);
      }
    }
});

test('the group carries the caller own node objects', () => {
  const [group] = planAgentProcessGroups(nodes, 5);
  assert.equal(group?.nodes[0], nodes[0]);
});

test('fewer than one agent a process is refused, not looped on forever', () => {
  assert.throws(() => planAgentProcessGroups(nodes, 0), /at least 1/);
});
