import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { checkpointImageRef } from '../../../services/common/checkpoint-image-name.js';
import { JobSigner } from '../../../services/common/job-signature.js';
import { migratePodJobSchema } from '../../../services/common/jobs.js';
import { restoredPodName } from '../../../services/worker/restored-pod.js';
import {
  RefusedJob,
  signedProgress,
  verifiedJob,
  verifiedProgress,
} from '../../../services/worker/verified-job.js';
import { uidFor } from '../../support/kube-uid.js';

const signer = new JobSigner(Buffer.alloc(32, 1));
const data = {
  event: {
    id: 'e1',
    kind: 'spot-interruption',
    deadline: '2026-01-01T00:02:00.000Z',
    receivedAt: '2026-01-01T00:00:00.000Z',
    eventTime: '2026-01-01T00:00:00.000Z',
  },
  node: { name: 'n1', instanceId: 'i-1' },
  pod: { namespace: 'shop', name: 'cart', uid: uidFor('cart') },
  deadline: '2026-01-01T00:02:00.000Z',
};
const job = (over: Partial<{ data: object; progress: object | number; id: string }> = {}) => ({
  id: 'migrate-pod__e1__u1',
  name: 'migrate-pod',
  queueName: 'rescue',
  data: signer.signed({ queue: 'rescue', name: 'migrate-pod', id: 'migrate-pod__e1__u1' }, data),
  progress: 0 as object | number,
  ...over,
});
const original: V1Pod = {
  metadata: { name: 'cart', namespace: 'shop', uid: uidFor('cart') },
  spec: { containers: [{ name: 'app', image: 'shop/cart:1' }] },
};
const images = { repository: 'localhost/spot-rescue/checkpoint', checkpointId: 'ck-1' };
const refusedFor = (reason: string, msg: RegExp) => (e: unknown) =>
  e instanceof RefusedJob && e.reason === reason && msg.test(e.message);

describe('verified jobs', () => {
  it('a signed job parses; an unsigned or altered one is refused for good', () => {
    assert.equal(verifiedJob(migratePodJobSchema, job(), 'migrate-pod', signer).pod.name, 'cart');
    assert.throws(
      () => verifiedJob(migratePodJobSchema, job({ data }), 'migrate-pod', signer),
      refusedFor('signature', /no signature/),
    );
    const altered = { ...(job().data as object), pod: { ...data.pod, name: 'victim' } };
    assert.throws(
      () => verifiedJob(migratePodJobSchema, job({ data: altered }), 'migrate-pod', signer),
      refusedFor('signature', /does not match/),
    );
  });

  it('progress the worker signed comes back; unsigned, malformed or foreign-image progress is refused', () => {
    const restoredImage = checkpointImageRef(
      images.repository,
      'shop',
      restoredPodName(original),
      'app',
      'ck-1',
    );
    const progress = {
      stage: 'restored' as const,
      target: 'n2',
      original,
      restore: {
        runtime: 'kubelet' as const,
        node: 'n2',
        containers: [{ name: 'app', image: restoredImage, downloadMs: 1, restoreMs: 1 }],
      },
      checkpointRequested: true,
      originalRemoved: true,
    };
    assert.deepEqual(verifiedProgress(job(), signer, images, 'shop'), {});
    const saved = signedProgress(job(), signer, progress);
    assert.deepEqual(verifiedProgress(job({ progress: saved }), signer, images, 'shop'), progress);

    assert.throws(
      () => verifiedProgress(job({ progress }), signer, images, 'shop'),
      refusedFor('progress', /no signature/),
    );
    // Signed for another job: the signature binds the job id.
    assert.throws(
      () => verifiedProgress(job({ progress: saved, id: 'other' }), signer, images, 'shop'),
      refusedFor('progress', /does not match/),
    );
    const malformed = signedProgress(job(), signer, { ...progress, stage: 'skipped' } as never);
    assert.throws(
      () => verifiedProgress(job({ progress: malformed }), signer, images, 'shop'),
      refusedFor('progress', /invalid saved progress/),
    );
    const foreign = signedProgress(job(), signer, {
      ...progress,
      restore: {
        ...progress.restore,
        containers: [{ name: 'app', image: 'evil/shell:latest', downloadMs: 1, restoreMs: 1 }],
      },
    });
    assert.throws(
      () => verifiedProgress(job({ progress: foreign }), signer, images, 'shop'),
      refusedFor('image', /would run evil\/shell:latest/),
    );
  });

  it('names read back from Redis are held to Kubernetes’ character sets, signed or not', () => {
    const id = 'migrate-pod__e1__u1';
    const signedJob = (d: object) => ({
      ...job(),
      data: signer.signed({ queue: 'rescue', name: 'migrate-pod', id }, d),
    });
    for (const pod of [
      { ...data.pod, namespace: '../../x' },
      { ...data.pod, name: 'a/../../b' },
      { ...data.pod, uid: 'u1' },
    ]) {
      assert.throws(
        () => verifiedJob(migratePodJobSchema, signedJob({ ...data, pod }), 'migrate-pod', signer),
        (e: unknown) => e instanceof Error && /invalid migrate-pod job/.test(e.message),
        JSON.stringify(pod),
      );
    }
    assert.throws(
      () =>
        verifiedJob(
          migratePodJobSchema,
          signedJob({ ...data, node: { ...data.node, name: '../n1' } }),
          'migrate-pod',
          signer,
        ),
      /invalid migrate-pod job/,
    );
    const withContainer = (name: string): V1Pod => ({
      ...original,
      spec: { containers: [{ name, image: 'x' }] },
    });
    for (const progress of [{ target: '../n2' }, { original: withContainer('/../../x') }]) {
      const saved = signedProgress(job(), signer, progress);
      assert.throws(
        () => verifiedProgress(job({ progress: saved }), signer, images, 'shop'),
        refusedFor('progress', /invalid saved progress/),
        JSON.stringify(progress),
      );
    }
  });
});
