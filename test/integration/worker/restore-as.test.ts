import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { AuthorizationV1Api, KubeConfig, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import type { MigrateResult } from '../../../services/worker/migrate.js';
import { KubeRestoreGrants } from '../../../services/worker/restore-grants.js';
import { counterContainer, eventRef, TestBed } from './harness.js';

/**
 * With the admission policy requiring restore-as on a copy's ServiceAccount,
 * the worker asks the API server first, as its own ServiceAccount (the bed's
 * worker identity, impersonated, so RBAC answers as it would in the cluster):
 * a pod it may restore is migrated, one it may not is drained at once with
 * the reason, never frozen for a checkpoint whose copy would be refused.
 */
describe('worker: restore-as on the pod ServiceAccount', () => {
  const bed = new TestBed('wsa');
  const source = bed.node('src');
  const target = bed.node('dst');
  const container = () => counterContainer({ requests: { cpu: '100m', memory: '64Mi' } });

  before(async () => {
    await bed.setUp({ nodes: [{ suffix: 'src' }, { suffix: 'dst', unschedulable: true }] });
    for (const name of ['granted-sa', 'other-sa'])
      await bed.k.core.createNamespacedServiceAccount({ namespace: bed.ns, body: { metadata: { name } } });
    const rbac = bed.k.kc.makeApiClient(RbacAuthorizationV1Api);
    await rbac.createNamespacedRole({
      namespace: bed.ns,
      body: {
        metadata: { name: 'restore-as' },
        rules: [
          {
            apiGroups: [''],
            resources: ['serviceaccounts'],
            verbs: ['restore-as'],
            resourceNames: ['granted-sa'],
          },
        ],
      },
    });
    const [, , saNs, saName] = bed.id.serviceAccount.split(':');
    await rbac.createNamespacedRoleBinding({
      namespace: bed.ns,
      body: {
        metadata: { name: 'restore-as' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'restore-as' },
        subjects: [{ kind: 'ServiceAccount', name: saName!, namespace: saNs! }],
      },
    });
    // The worker's access reviews as the worker's own ServiceAccount, not as the stack's admin.
    const admin = bed.k.kc;
    const asWorker = new KubeConfig();
    asWorker.loadFromOptions({
      clusters: admin.clusters,
      contexts: admin.contexts,
      currentContext: admin.currentContext,
      users: admin.users.map((u) => ({ ...u, impersonateUser: bed.id.serviceAccount })),
    });
    await bed.startWorker({
      extra: { SPOT_RESCUE_RESTORE_SERVICE_ACCOUNTS: 'granted' },
      overrides: { restoreGrants: new KubeRestoreGrants(asWorker.makeApiClient(AuthorizationV1Api)) },
    });
  });

  after(() => bed.close());

  test('a pod whose ServiceAccount is granted is restored; one whose is not is drained at once', async () => {
    await bed.createPod('granted', bed.podSpec([container()], { serviceAccountName: 'granted-sa' }));
    await bed.createPod('refused', bed.podSpec([container()], { serviceAccountName: 'other-sa' }));
    const pods = await bed.podsToMove(source, 2, [target]);
    const byName = (n: string) => pods.find((p) => p.metadata?.name === n)!;
    const [granted, refused] = (await bed.migrateAll(
      eventRef(120_000),
      { name: source, instanceId: 'i-0123456789abcdef8' },
      [byName('granted'), byName('refused')],
    )) as MigrateResult[];

    assert.equal(granted?.outcome, 'restored', JSON.stringify(granted));
    assert.equal(granted?.target, target);

    assert.equal(refused?.outcome, 'evicted', JSON.stringify(refused));
    assert.match(
      refused?.reason ?? '',
      new RegExp(`not granted restore-as on ServiceAccount ${bed.ns}/other-sa`),
    );
    const events = (await bed.k.core.listNamespacedEvent({ namespace: bed.ns })).items.filter(
      (e) => e.involvedObject.name === 'refused',
    );
    assert.equal(events.filter((e) => e.reason === 'RescueStarted').length, 0, 'no checkpoint was started');
    assert.ok(
      events.some((e) => e.reason === 'RescueFellBackToEviction' && /restore-as/.test(e.message ?? '')),
      `the drain says why: ${JSON.stringify(events.map((e) => [e.reason, e.message]))}`,
    );
  });
});
