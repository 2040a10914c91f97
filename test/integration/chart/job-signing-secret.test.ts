/**
 * The key jobs are signed with: the chart generates it into a Secret, and
 * only the listener (which signs) and the worker (which verifies) mount it;
 * the agent, on every node, never sees it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { exampleFiles, find, type K8sObject, renderChart } from './helm.js';

const NS = 'spot-rescue';
const minimal = exampleFiles.find((f) => f.endsWith('minimal.yaml'))!;

interface PodSpec {
  containers: Array<{
    name: string;
    env?: Array<{ name: string; value?: string }>;
    volumeMounts?: Array<{ name: string; mountPath: string }>;
  }>;
  volumes?: Array<{
    name: string;
    secret?: { secretName: string; items: Array<{ key: string; path: string }> };
  }>;
}

function podSpec(objects: K8sObject[], kind: string, component: string): PodSpec {
  return (find(objects, kind, `-${component}`) as unknown as { spec: { template: { spec: PodSpec } } }).spec
    .template.spec;
}

function keyFile(spec: PodSpec): string | undefined {
  return spec.containers[0]?.env?.find((e) => e.name === 'SPOT_RESCUE_JOB_SIGNING_KEY_FILE')?.value;
}

describe('chart: the job signing key', () => {
  it('is generated into a Secret mounted by the listener and the worker, not the agent', () => {
    const objects = renderChart({ namespace: NS, values: [minimal] });
    const secret = find(objects, 'Secret', '-job-signing') as unknown as { data: { key: string } };
    assert.match(Buffer.from(secret.data.key, 'base64').toString(), /^[A-Za-z0-9]{64}$/);
    for (const component of ['listener', 'worker']) {
      const spec = podSpec(objects, 'Deployment', component);
      const file = keyFile(spec);
      assert.equal(file, '/var/run/secrets/spot-rescue-job-signing/key', component);
      const mount = spec.containers[0]?.volumeMounts?.find((m) => file?.startsWith(`${m.mountPath}/`));
      const volume = spec.volumes?.find((v) => v.name === mount?.name);
      assert.deepEqual(volume?.secret?.secretName, 'rescue-spot-rescue-job-signing', component);
      assert.deepEqual(volume?.secret?.items, [{ key: 'key', path: 'key' }]);
    }
    const agent = podSpec(objects, 'DaemonSet', 'agent');
    assert.equal(keyFile(agent), undefined);
    assert.ok(!JSON.stringify(agent).includes('job-signing'), 'the agent mounts no signing key');
  });

  it('reads an existing Secret instead, and renders none of its own', () => {
    const objects = renderChart({
      namespace: NS,
      values: [minimal],
      set: ['jobSigning.existingSecret=byo-key', 'jobSigning.existingSecretKey=hmac'],
    });
    assert.deepEqual(
      objects.filter((o) => o.kind === 'Secret' && o.metadata.name.endsWith('-job-signing')),
      [],
    );
    for (const component of ['listener', 'worker']) {
      const volume = podSpec(objects, 'Deployment', component).volumes?.find(
        (v) => v.name === 'job-signing-key',
      );
      assert.deepEqual(volume?.secret, {
        secretName: 'byo-key',
        defaultMode: 0o400,
        items: [{ key: 'hmac', path: 'key' }],
      });
    }
  });
});
