import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  archiveKey,
  buildManifest,
  manifestKey,
  selectContainers,
} from '../../../services/agent/archive-layout.js';
import type { CheckpointRequest, ContainerArchive } from '../../../services/common/agent-api.js';

const request: CheckpointRequest = {
  namespace: 'shop',
  pod: 'cart-0',
  podUid: '0b9d7c2e-5a1f-4e3b-9c8d-7f6e5d4c3b2a',
  containers: ['app', 'sidecar'],
  checkpointId: 'cp-1',
  deadline: '2026-11-24T12:02:00.000Z',
  s3: { bucket: 'rescue-bucket', prefix: '/prod/shop/cart-0/0b9d7c2e-5a1f-4e3b-9c8d-7f6e5d4c3b2a/cp-1/' },
  podSpec: { containers: [{ name: 'app' }, { name: 'sidecar' }] },
  eventId: 'evt-1',
};

function archive(name: string): ContainerArchive {
  return {
    name,
    key: archiveKey(request.s3.prefix, name),
    bytesRaw: 300,
    bytesCompressed: 100,
    sha256: 'a'.repeat(64),
    timings: { checkpointMs: 1, uploadMs: 2, totalMs: 3 },
  };
}

/** A manifest of `containers` for `request`, made by a runc node at a fixed time unless `extra` says otherwise. */
function manifestOf(
  containers: ContainerArchive[],
  extra: Partial<Parameters<typeof buildManifest>[0]> = {},
) {
  return buildManifest({
    request,
    cluster: 'prod',
    sourceNode: 'ip-10-0-0-1',
    runtime: 'runc',
    criuVersion: '4.1.1',
    createdAt: new Date('2026-11-24T12:00:00Z'),
    completedAt: new Date('2026-11-24T12:00:05Z'),
    containers,
    ...extra,
  });
}

describe('archive layout', () => {
  test('keys sit under the prefix without doubled or leading slashes', () => {
    assert.equal(
      archiveKey(request.s3.prefix, 'app'),
      'prod/shop/cart-0/0b9d7c2e-5a1f-4e3b-9c8d-7f6e5d4c3b2a/cp-1/app.tar.zst',
    );
    assert.equal(
      manifestKey(request.s3.prefix),
      'prod/shop/cart-0/0b9d7c2e-5a1f-4e3b-9c8d-7f6e5d4c3b2a/cp-1/manifest.json',
    );
  });

  test('the manifest lists containers in request order with source, runtime and pod spec', () => {
    const m = manifestOf([archive('sidecar'), archive('app')], { sourceInstanceId: 'i-0123456789abcdef0' });
    assert.deepEqual(
      m.containers.map((c) => c.name),
      ['app', 'sidecar'],
    );
    assert.equal(m.version, 1);
    assert.equal(m.sourceInstanceId, 'i-0123456789abcdef0');
    assert.equal(m.eventId, 'evt-1');
    assert.deepEqual(m.podSpec, request.podSpec);
    assert.equal(m.completedAt, '2026-11-24T12:00:05.000Z');
  });

  test('a manifest missing a requested container is never built', () => {
    assert.throws(() => manifestOf([archive('app')]), /lacks archives for: sidecar/);
  });

  test('a malformed archive entry fails validation', () => {
    assert.throws(
      () =>
        manifestOf([{ ...archive('app'), sha256: 'not-hex' }], {
          request: { ...request, containers: ['app'] },
        }),
      /"sha256"/,
    );
  });

  test('restores pick all containers by default, named ones otherwise, and reject unknown names', () => {
    const m = manifestOf([archive('app'), archive('sidecar')], { runtime: 'kubelet' });
    assert.equal(selectContainers(m, undefined).length, 2);
    assert.deepEqual(
      selectContainers(m, ['sidecar']).map((c) => c.name),
      ['sidecar'],
    );
    assert.throws(() => selectContainers(m, ['db']), /no container db \(it has app, sidecar\)/);
  });
});
