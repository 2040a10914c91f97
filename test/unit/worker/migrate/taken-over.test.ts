import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { copyStanding } from '../../../../services/worker/migrate/kept.js';
import { originalStanding } from '../../../../services/worker/migrate/taken-over.js';

const pod = (uid: string, deleting = false): V1Pod => ({
  metadata: {
    name: 'web-1',
    uid,
    ...(deleting ? { deletionTimestamp: new Date('2026-12-01T22:16:31Z') } : {}),
  },
});

describe('originalStanding: whether the original is still the pod to replace', () => {
  it('present under its uid: present, whoever would remove it', () => {
    assert.equal(originalStanding(pod('u1'), 'u1', false), 'present');
    assert.equal(originalStanding(pod('u1'), 'u1', true), 'present');
  });

  it('gone, being deleted, or another pod under its name, without this migration removing it: taken over', () => {
    assert.equal(originalStanding(null, 'u1', false), 'taken-over');
    assert.equal(originalStanding(pod('u1', true), 'u1', false), 'taken-over');
    // A StatefulSet's fresh pod under the name is not the original.
    assert.equal(originalStanding(pod('u2'), 'u1', false), 'taken-over');
  });

  it('gone or going after this migration began removing it: removed by us', () => {
    assert.equal(originalStanding(null, 'u1', true), 'removed-by-us');
    assert.equal(originalStanding(pod('u1', true), 'u1', true), 'removed-by-us');
    assert.equal(originalStanding(pod('u2'), 'u1', true), 'removed-by-us');
  });
});

describe('copyStanding: whether an adopted copy is still its controller member', () => {
  it('there under its uid and not being deleted: kept', () => {
    assert.equal(copyStanding(pod('c1'), 'c1'), 'kept');
  });

  it('gone, being deleted, or another pod under its name: removed', () => {
    assert.equal(copyStanding(null, 'c1'), 'removed');
    assert.equal(copyStanding(pod('c1', true), 'c1'), 'removed');
    assert.equal(copyStanding(pod('c2'), 'c1'), 'removed');
  });
});
