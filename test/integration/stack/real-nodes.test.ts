import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, rm, stat } from 'node:fs/promises';
import { request } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { CoordinationV1Api, CoreV1Api, RbacAuthorizationV1Api, type V1Node } from '@kubernetes/client-node';
import { type RealNode, realNodes } from '../../../infra/sim/real-nodes-env.js';
import { createEc2Client } from '../../../services/common/aws.js';
import { loadKubeConfig } from '../../../services/common/kube.js';
import { awsSettings, stackEnv, uniqueName, waitFor } from '../../support/stack.js';

const run = promisify(execFile);

/**
 * The stack's real nodes (infra/lib/real-nodes.sh): kubelets with their own
 * containerd, registered beside kwok's simulated nodes. What the production
 * path needs from them: they run a pod for real, and their kubelet's
 * checkpoint API answers only to a caller allowed `create nodes/checkpoint`.
 */

/** A POST to the kubelet's own HTTPS server (not through the API server), as the agent makes it. */
async function kubeletPost(
  url: string,
  ca: string,
  token: string,
): Promise<{ status: number; body: string }> {
  const caPem = await readFile(ca);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: 'POST', ca: caPem, headers: { authorization: `Bearer ${token}` } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.setTimeout(150_000, () => req.destroy(new Error(`no answer from ${url}`)));
    req.end();
  });
}

function ready(node: V1Node): boolean {
  return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

describe('real nodes', () => {
  const kc = loadKubeConfig(stackEnv().kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
  const leases = kc.makeApiClient(CoordinationV1Api);
  const ns = uniqueName('real-nodes');
  const role = `${ns}-checkpoint`;
  const archives: string[] = [];

  before(async () => {
    await core.createNamespace({ body: { metadata: { name: ns } } });
  });

  after(async () => {
    await core.deleteNamespace({ name: ns }).catch(() => {});
    await rbac.deleteClusterRoleBinding({ name: role }).catch(() => {});
    await rbac.deleteClusterRole({ name: role }).catch(() => {});
    for (const a of archives) await rm(a, { force: true });
  });

  test('every real node is Ready, run by its own kubelet and containerd (not kwok), and names its EC2 instance', async () => {
    const { nodes } = realNodes();
    const ec2 = createEc2Client(awsSettings());
    for (const n of nodes) {
      const node = await core.readNode({ name: n.name });
      assert.ok(ready(node), `${n.name} is Ready`);
      assert.equal(node.metadata?.labels?.['spot-rescue.io/real-node'], 'true');
      assert.equal(node.metadata?.labels?.['topology.kubernetes.io/zone'], n.zone);
      assert.match(node.status?.nodeInfo?.containerRuntimeVersion ?? '', /^containerd:\/\/2\.2\./);
      assert.match(node.status?.nodeInfo?.kubeletVersion ?? '', /^v1\.34\./);
      // kwok takes a node's lease when it manages the node; a kubelet holds its own under the node's name.
      const lease = await leases.readNamespacedLease({ namespace: 'kube-node-lease', name: n.name });
      assert.equal(lease.spec?.holderIdentity, n.name, `${n.name}'s lease is held by its kubelet`);
      assert.equal(node.spec?.providerID, `aws:///${n.zone}/${n.instanceId}`);
      const found = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [n.instanceId] }));
      const instance = found.Reservations?.[0]?.Instances?.[0];
      assert.equal(instance?.Placement?.AvailabilityZone, n.zone);
      assert.equal(instance?.State?.Name, 'running');
    }
  });

  test('a pod on real-a runs the workload, its log reaches the API server, and the kubelet checkpoints it only for a caller allowed nodes/checkpoint', async () => {
    const { nodes, ca, runtimeBin, workloadImage } = realNodes();
    const a = nodes[0] as RealNode;
    await core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: 'counter' },
        spec: {
          nodeSelector: { 'kubernetes.io/hostname': a.name },
          containers: [
            {
              name: 'counter',
              image: workloadImage,
              imagePullPolicy: 'Never',
              command: ['/bin/sh', '-c', 'echo counting; exec /usr/local/bin/counter 16 /state/progress 100'],
            },
          ],
        },
      },
    });
    const pod = await waitFor(
      'the pod to run on the real node',
      async () => {
        const p = await core.readNamespacedPod({ namespace: ns, name: 'counter' });
        return p.status?.containerStatuses?.[0]?.state?.running ? p : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    assert.equal(pod.spec?.nodeName, a.name);
    // kwok, had it claimed the pod, would have given it an address from its own range (--cidr in infra/stack).
    assert.ok(
      pod.status?.podIP && !pod.status.podIP.startsWith('10.244.'),
      `pod IP ${pod.status?.podIP} from the node's CNI`,
    );
    const containerId = (pod.status?.containerStatuses?.[0]?.containerID ?? '').replace(
      /^containerd:\/\//,
      '',
    );
    assert.ok(containerId, 'the kubelet reports a containerd container id');

    // The process itself, read inside the container through containerd: its counter advances.
    const counter = async () => {
      const { stdout } = await run(join(runtimeBin, 'crictl'), [
        ...['--runtime-endpoint', `unix://${a.containerdSocket}`, 'exec', containerId],
        ...['cat', '/state/progress'],
      ]);
      const m = /counter=(\d+) .*corrupt=(\d+)/.exec(stdout);
      assert.ok(m, `progress from the workload: ${stdout}`);
      assert.equal(m[2], '0');
      return Number(m[1]);
    };
    await waitFor('the workload to count', async () => (await counter()) > 0, { timeoutMs: 20_000 });
    const c1 = await counter();
    await waitFor('the counter to advance', async () => (await counter()) > c1, { timeoutMs: 10_000 });

    // The API server reaches the kubelet too (kubectl logs).
    const log = await core.readNamespacedPodLog({ namespace: ns, name: 'counter', container: 'counter' });
    assert.equal(log.trim(), 'counting');

    // A ServiceAccount without the right, one with exactly `create nodes/checkpoint`.
    await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'nobody' } } });
    await core.createNamespacedServiceAccount({
      namespace: ns,
      body: { metadata: { name: 'checkpointer' } },
    });
    await rbac.createClusterRole({
      body: {
        metadata: { name: role },
        rules: [{ apiGroups: [''], resources: ['nodes/checkpoint'], verbs: ['create'] }],
      },
    });
    await rbac.createClusterRoleBinding({
      body: {
        metadata: { name: role },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
        subjects: [{ kind: 'ServiceAccount', name: 'checkpointer', namespace: ns }],
      },
    });
    const token = async (sa: string) =>
      (
        await core.createNamespacedServiceAccountToken({
          namespace: ns,
          name: sa,
          body: { spec: { audiences: [], expirationSeconds: 600 } },
        })
      ).status?.token as string;

    const url = `${a.kubeletUrl}/checkpoint/${ns}/counter/counter`;
    const denied = await kubeletPost(url, ca, await token('nobody'));
    assert.equal(denied.status, 403, `without nodes/checkpoint: ${denied.body}`);
    assert.match(denied.body, /checkpoint/);

    const allowed = await kubeletPost(url, ca, await token('checkpointer'));
    assert.equal(allowed.status, 200, `with nodes/checkpoint: ${allowed.body}`);
    const items = (JSON.parse(allowed.body) as { items: string[] }).items;
    assert.equal(items.length, 1);
    const archive = items[0] as string;
    archives.push(archive);
    assert.ok(archive.startsWith(`${a.checkpointsDir}/checkpoint-counter_${ns}-counter-`), archive);
    assert.ok((await stat(archive)).size > 16 << 20, 'the archive holds the 16 MiB the workload filled');
    const { stdout: listing } = await run('tar', ['-tf', archive], { maxBuffer: 16 << 20 });
    for (const entry of ['config.dump', 'spec.dump', 'rootfs-diff.tar']) {
      assert.ok(listing.split('\n').includes(entry), `${entry} in the archive`);
    }
    assert.ok(
      listing.split('\n').some((e) => e.startsWith('checkpoint/') && e.endsWith('.img')),
      'CRIU images in the archive',
    );

    // containerd resumes the container after the dump: it is still counting.
    const c2 = await counter();
    await waitFor('the counter to advance after the checkpoint', async () => (await counter()) > c2, {
      timeoutMs: 10_000,
    });
  });
});
