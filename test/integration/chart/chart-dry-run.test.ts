/**
 * Every object the chart renders, for every example values file, applied to
 * the local kube-apiserver with server-side apply and dryRun=All, strict
 * field validation: the real OpenAPI schema, defaulting, admission and RBAC
 * escalation checks run, and nothing is persisted. The release namespace is
 * created for real (namespaced dry runs need it) and removed afterwards.
 */
import assert from 'node:assert/strict';
import { basename } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { uniqueName } from '../../support/stack.js';
import {
  exampleFiles,
  type K8sObject,
  kubeRequest,
  renderChart,
  resourceFor,
  serverSideDryRunApply,
} from './helm.js';

const namespace = uniqueName('chart-dry-run');

describe('chart: server-side dry run against the local kube-apiserver', () => {
  before(async () => {
    const r = await kubeRequest('POST', '/api/v1/namespaces', {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: namespace },
    });
    assert.equal(r.status, 201, `create namespace ${namespace}: ${JSON.stringify(r.body)}`);
  });
  after(async () => {
    await kubeRequest('DELETE', `/api/v1/namespaces/${namespace}`);
  });

  for (const file of exampleFiles) {
    it(`accepts every object of examples/${basename(file)}`, async () => {
      const objects = renderChart({ namespace, values: [file] });
      const rejected: string[] = [];
      const notServed: K8sObject[] = [];
      for (const obj of objects) {
        if (!(await resourceFor(obj.apiVersion, obj.kind))) {
          notServed.push(obj);
          continue;
        }
        const r = await serverSideDryRunApply(obj);
        if (r.status !== 200 && r.status !== 201) {
          rejected.push(
            `${obj.kind} ${obj.metadata.name}: ${r.status} ${(r.body as { message?: string }).message}`,
          );
        }
      }
      assert.deepEqual(rejected, [], 'the API server rejected objects');
      // Only the Prometheus Operator's CRD may be missing from a bare cluster.
      assert.deepEqual([...new Set(notServed.map((o) => `${o.apiVersion} ${o.kind}`))].sort(), [
        ...(notServed.length > 0 ? ['monitoring.coreos.com/v1 ServiceMonitor'] : []),
      ]);
      for (const sm of notServed) {
        const spec = sm['spec'] as {
          selector: { matchLabels: Record<string, string> };
          endpoints: { port: string }[];
        };
        const svc = objects.find(
          (o) =>
            o.kind === 'Service' &&
            Object.entries(spec.selector.matchLabels).every(([k, v]) => o.metadata.labels?.[k] === v),
        );
        assert.ok(svc, `ServiceMonitor ${sm.metadata.name} selects a Service of the chart`);
        const ports = (svc['spec'] as { ports: { name: string }[] }).ports.map((p) => p.name);
        for (const e of spec.endpoints)
          assert.ok(ports.includes(e.port), `port ${e.port} exists on ${svc.metadata.name}`);
      }
    });
  }

  it('really validates: an unknown field or a bad value in a rendered object is rejected', async () => {
    const [deployment] = renderChart({ namespace, values: [exampleFiles[0]!] }).filter(
      (o) => o.kind === 'Deployment',
    );
    assert.ok(deployment);
    const typo = {
      ...deployment,
      yaml: deployment.yaml.replace('revisionHistoryLimit:', 'revisionHistoryLimt:'),
    };
    const r1 = await serverSideDryRunApply(typo as K8sObject);
    // Server-side apply reports a field missing from the schema as a failed typed patch (500, not 400).
    assert.ok(r1.status >= 400, `status ${r1.status}`);
    assert.match(
      (r1.body as { message: string }).message,
      /revisionHistoryLimt: field not declared in schema/,
    );
    const bad = { ...deployment, yaml: deployment.yaml.replace(/replicas: 2/, 'replicas: -2') };
    const r2 = await serverSideDryRunApply(bad as K8sObject);
    assert.equal(r2.status, 422);
    // Nothing was persisted by the dry runs.
    const list = await kubeRequest('GET', `/apis/apps/v1/namespaces/${namespace}/deployments`);
    assert.deepEqual((list.body as { items: unknown[] }).items, []);
  });
});
