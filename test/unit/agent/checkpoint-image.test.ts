import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import {
  CONTAINERD_CHECKPOINT_ANNOTATION,
  CRIO_CHECKPOINT_ANNOTATION,
  checkpointImageDocuments,
  checkpointImageTag,
} from '../../../services/agent/runtimes/kubelet/checkpoint-image.js';
import { commandArgs } from '../../../services/agent/runtimes/kubelet/image-importer.js';

describe('checkpoint OCI image', () => {
  const layer = 'b'.repeat(64);
  const docs = checkpointImageDocuments({
    layerSha256: layer,
    layerSize: 1234,
    containerName: 'app',
    tag: 'shop-cart-0-app-cp-1',
    created: '2026-11-24T12:00:00.000Z',
    architecture: 'amd64',
  });
  const manifest = JSON.parse(docs.manifest.bytes.toString());
  const index = JSON.parse(docs.index.toString());
  const config = JSON.parse(docs.config.bytes.toString());

  test('one uncompressed layer: the checkpoint archive, named by its sha256', () => {
    assert.deepEqual(manifest.layers, [
      { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${layer}`, size: 1234 },
    ]);
    assert.deepEqual(config.rootfs, { type: 'layers', diff_ids: [`sha256:${layer}`] });
  });

  test('annotated for CRI-O on the manifest and for containerd on the index', () => {
    assert.equal(manifest.annotations[CRIO_CHECKPOINT_ANNOTATION], 'app');
    assert.equal(index.manifests[0].annotations[CONTAINERD_CHECKPOINT_ANNOTATION], 'app');
    assert.equal(index.annotations[CONTAINERD_CHECKPOINT_ANNOTATION], 'app');
    // Unnamed inside: ctr would otherwise make a second image (import-<date>:<tag>) that containerd's CRI trips on.
    assert.equal(index.manifests[0].annotations['org.opencontainers.image.ref.name'], undefined);
  });

  test('descriptors carry the real digests and sizes of the documents', () => {
    const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
    assert.equal(docs.config.digest, sha(docs.config.bytes));
    assert.equal(manifest.config.digest, docs.config.digest);
    assert.equal(manifest.config.size, docs.config.bytes.length);
    assert.equal(index.manifests[0].digest, sha(docs.manifest.bytes));
    assert.equal(index.manifests[0].size, docs.manifest.bytes.length);
  });

  test('tags are registry-safe', () => {
    const tag = checkpointImageTag('Shop', 'cart_0', 'app', `cp-${'x'.repeat(200)}`);
    assert.match(tag, /^[a-z0-9_.-]+$/);
    assert.equal(tag.length, 128);
  });

  test('import commands are filled in without a shell', () => {
    assert.deepEqual(
      commandArgs('ctr -n k8s.io images import --index-name {ref} {archive}', {
        archive: '/x/a b.tar',
        ref: 'r:1',
      }),
      ['ctr', '-n', 'k8s.io', 'images', 'import', '--index-name', 'r:1', '/x/a b.tar'],
    );
  });
});
