import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkpointMemoryEstimate } from '../../../services/common/pod-memory.js';
import { bytes, cpuMillis } from '../../../services/common/quantity.js';
import { podRequests } from '../../../services/worker/pod-resources.js';
import { endpointMapSchema } from '../../../services/worker/settings.js';

describe('quantities and requests', () => {
  it('parses Kubernetes quantities', () => {
    assert.equal(cpuMillis('250m'), 250);
    assert.equal(cpuMillis('1.5'), 1500);
    assert.equal(cpuMillis(2), 2000);
    assert.equal(bytes('512Mi'), 512 * 2 ** 20);
    assert.equal(bytes('1G'), 1e9);
    assert.equal(bytes('1e3'), 1000);
    assert.equal(bytes(undefined), 0);
    assert.throws(() => bytes('lots'), /not a Kubernetes quantity/);
  });

  it('charges max(sum of containers, largest init container) plus overhead', () => {
    const r = podRequests({
      spec: {
        containers: [
          { name: 'a', resources: { requests: { cpu: '100m', memory: '64Mi' } } },
          { name: 'b', resources: { limits: { cpu: '200m', memory: '64Mi' } } },
        ],
        initContainers: [{ name: 'i', resources: { requests: { cpu: '1', memory: '1Mi' } } }],
        overhead: { cpu: '10m' },
      },
    });
    assert.deepEqual(r, { cpuMillis: 1010, memoryBytes: 128 * 2 ** 20, pods: 1 });
  });

  it('estimates checkpoint memory from limits, then requests, then the default', () => {
    const m = checkpointMemoryEstimate(
      {
        spec: {
          containers: [
            { name: 'a', resources: { limits: { memory: '1Gi' }, requests: { memory: '1Mi' } } },
            { name: 'b', resources: { requests: { memory: '2Mi' } } },
            { name: 'c' },
          ],
        },
      },
      7,
    );
    assert.equal(m, 2 ** 30 + 2 * 2 ** 20 + 7);
  });

  it('reads the static agent map and names a bad entry', () => {
    assert.deepEqual(endpointMapSchema.parse('a=http://127.0.0.1:1/, *=http://h:2'), {
      a: 'http://127.0.0.1:1',
      '*': 'http://h:2',
    });
    assert.throws(() => endpointMapSchema.parse('a=http://x,broken'), /broken.{0,4} is not node=url/);
  });
});
