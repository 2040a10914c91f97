/**
 * What the chart puts on each node for the kubelet path, rendered by a real
 * helm: CRIU installed by an init container before the agent starts, the
 * runtime's socket and configuration mounted, the importer chosen from the
 * node's runtime by default, and the agent's state on the host.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { criuInstallSettings } from '../../../services/agent/settings.js';
import { readConfig } from '../../../services/common/config.js';
import { exampleFiles, find, type K8sObject, renderChart } from './helm.js';

const NS = 'spot-rescue';
const minimal = exampleFiles.find((f) => f.endsWith('minimal.yaml'))!;

interface Mount {
  name: string;
  mountPath: string;
  readOnly?: boolean;
  mountPropagation?: string;
}
interface Container {
  name: string;
  args: string[];
  env: { name: string; value?: string }[];
  volumeMounts: Mount[];
  securityContext: Record<string, unknown>;
}
interface PodSpec {
  initContainers?: Container[];
  containers: Container[];
  volumes: { name: string; hostPath?: { path: string; type: string } }[];
}

function agentPod(set: string[] = []): PodSpec {
  const ds = find(
    renderChart({ namespace: NS, values: [minimal], set }),
    'DaemonSet',
    '-agent',
  ) as K8sObject & {
    spec: { template: { spec: PodSpec } };
  };
  return ds.spec.template.spec;
}

const envOf = (c: Container) => Object.fromEntries(c.env.map((e) => [e.name, e.value]));
function hostPathOf(pod: PodSpec, mount: Mount) {
  return pod.volumes.find((v) => v.name === mount.name)?.hostPath;
}
function mountAt(c: Container, path: string): Mount {
  const m = c.volumeMounts.find((v) => v.mountPath === path);
  assert.ok(m, `${c.name} mounts ${path}`);
  return m;
}

describe('chart: what each node gets for the kubelet path', () => {
  it("installs CRIU into containerd's opt dir from an unprivileged init container, before the agent", () => {
    const pod = agentPod();
    const init = pod.initContainers?.find((c) => c.name === 'install-criu');
    assert.ok(init, 'an install-criu init container');
    assert.deepEqual(init.args, ['install-criu']);
    assert.equal(init.securityContext['privileged'], false);
    assert.equal(init.securityContext['readOnlyRootFilesystem'], true);
    const env = envOf(init);
    // The init container's environment is one its settings accept, naming host paths under its host root.
    const c = readConfig(criuInstallSettings, env);
    assert.equal(c.optDir, '/opt/containerd');
    assert.equal(c.configFile, '/etc/criu/default.conf');
    assert.deepEqual(hostPathOf(pod, mountAt(init, `${c.hostRoot}/opt/containerd`)), {
      path: '/opt/containerd',
      type: 'DirectoryOrCreate',
    });
    assert.deepEqual(hostPathOf(pod, mountAt(init, `${c.hostRoot}/etc/criu`)), {
      path: '/etc/criu',
      type: 'DirectoryOrCreate',
    });
    assert.equal(
      renderChart({ namespace: NS, values: [minimal], set: ['agent.criu.install=false'] }).length > 0,
      true,
    );
    assert.equal(agentPod(['agent.criu.install=false']).initContainers, undefined);
  });

  it('gives the agent the installed CRIU, containerd socket and config (read-only), and the auto importer', () => {
    const pod = agentPod();
    const agent = pod.containers[0]!;
    const env = envOf(agent);
    assert.equal(env['SPOT_RESCUE_IMAGE_IMPORTER'], 'auto');
    assert.equal(env['SPOT_RESCUE_NODE_CRIU'], '/opt/containerd/bin/criu');
    assert.equal(mountAt(agent, '/opt/containerd').readOnly, true);
    assert.equal(env['SPOT_RESCUE_CONTAINERD_SOCKET'], '/run/containerd/containerd.sock');
    assert.deepEqual(hostPathOf(pod, mountAt(agent, '/run/containerd/containerd.sock')), {
      path: '/run/containerd/containerd.sock',
      type: 'Socket',
    });
    assert.equal(env['SPOT_RESCUE_CONTAINERD_CONFIG'], '/etc/containerd/config.toml');
    const config = mountAt(agent, '/etc/containerd');
    assert.equal(config.readOnly, true);
    assert.deepEqual(hostPathOf(pod, config), { path: '/etc/containerd', type: 'Directory' });
    // What the agent froze survives its pod: a host directory, not the emptyDir.
    const state = mountAt(agent, env['SPOT_RESCUE_AGENT_HOST_STATE_DIR']!);
    assert.deepEqual(hostPathOf(pod, state), { path: '/var/lib/spot-rescue', type: 'DirectoryOrCreate' });
  });

  it('on CRI-O nodes mounts containers-storage (propagated both ways) instead of containerd', () => {
    const pod = agentPod([
      'agent.crio.enabled=true',
      'agent.containerd.enabled=false',
      'agent.criu.optDir=/usr/local',
    ]);
    const agent = pod.containers[0]!;
    const env = envOf(agent);
    assert.equal(env['SPOT_RESCUE_CONTAINERD_SOCKET'], undefined);
    assert.ok(!agent.volumeMounts.some((m) => m.mountPath.startsWith('/run/containerd')));
    assert.equal(mountAt(agent, '/var/lib/containers/storage').mountPropagation, 'Bidirectional');
    assert.equal(mountAt(agent, '/run/containers/storage').mountPropagation, 'Bidirectional');
    assert.equal(env['SPOT_RESCUE_NODE_CRIU'], '/usr/local/bin/criu');
  });

  for (const [set, message] of [
    ['agent.imageImporter=registry', /\/agent\/imageImporter.*does not match pattern/],
    ['agent.criu.optDir=opt/containerd', /\/agent\/criu\/optDir.*does not match pattern/],
    ['agent.containerd.socket=', /\/agent\/containerd\/socket.*does not match pattern/],
  ] as const) {
    it(`rejects ${set}`, () => {
      assert.throws(() => renderChart({ namespace: NS, values: [minimal], set: [set] }), message);
    });
  }
});
