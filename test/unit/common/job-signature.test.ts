import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { canonicalJson, JobSigner, SIGNATURE_FIELD } from '../../../services/common/job-signature.js';
import { loadJobSigner, newJobSigningKeyFile } from '../../../services/common/job-signing-key.js';
import { uidFor } from '../../support/kube-uid.js';

const key = Buffer.alloc(32, 7);
const scope = { queue: 'rescue', name: 'migrate-pod', id: 'migrate__e1__u1' };
const data = {
  event: { id: 'e1', kind: 'spot-interruption' },
  pod: { namespace: 'ns', name: 'p', uid: uidFor('p') },
  deadline: '2026-01-01T00:00:00.000Z',
};

describe('job signature', () => {
  it('canonical JSON sorts keys at every level and drops undefined members', () => {
    assert.equal(
      canonicalJson({ b: 1, a: { d: [1, { y: 2, x: undefined, w: 'z' }], c: null } }),
      '{"a":{"c":null,"d":[1,{"w":"z","y":2}]},"b":1}',
    );
  });

  it('a signed job verifies after a JSON round trip with its keys in another order', () => {
    const signer = new JobSigner(key);
    const signed = signer.signed(scope, data);
    const roundTripped = JSON.parse(
      JSON.stringify({
        [SIGNATURE_FIELD]: signed.signature,
        deadline: data.deadline,
        pod: data.pod,
        event: data.event,
      }),
    );
    assert.equal(signer.problem(scope, roundTripped), undefined);
  });

  it('refuses unsigned, altered, re-scoped and foreign-key jobs', () => {
    const signer = new JobSigner(key);
    const signed = signer.signed(scope, data);
    assert.equal(signer.problem(scope, data), 'no signature');
    assert.equal(signer.problem(scope, { ...signed, signature: 'v1:zz' }), 'malformed signature');
    assert.equal(
      signer.problem(scope, { ...signed, pod: { ...data.pod, name: 'victim' } }),
      'signature does not match',
    );
    assert.equal(signer.problem({ ...scope, queue: 'evict' }, signed), 'signature does not match');
    assert.equal(signer.problem({ ...scope, id: 'other' }, signed), 'signature does not match');
    assert.equal(signer.problem({ ...scope, name: 'evict-pod' }, signed), 'signature does not match');
    assert.equal(new JobSigner(Buffer.alloc(32, 8)).problem(scope, signed), 'signature does not match');
    assert.equal(signer.problem(scope, { ...signed, extra: 'field' }), 'signature does not match');
    assert.equal(signer.problem(scope, null), 'not an object');
  });

  it('loads a key from its file and refuses a short or missing one with the file named', () => {
    const file = newJobSigningKeyFile();
    const a = loadJobSigner(file);
    const b = loadJobSigner('k', () => Buffer.from(`${readFileSync(file, 'utf8')}\n`));
    assert.equal(b.problem(scope, a.signed(scope, data)), undefined);
    assert.throws(
      () => loadJobSigner('short', () => Buffer.from('abc')),
      /short has 3 bytes; it needs at least 32/,
    );
    assert.throws(
      () => loadJobSigner('/nonexistent/key'),
      /cannot read the job signing key \/nonexistent\/key/,
    );
  });
});
