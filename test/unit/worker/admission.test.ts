import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { waitUntil } from '../../../services/worker/migrate/admission.js';

describe('waiting for an admitted checkpoint', () => {
  const cutoff = Date.parse('2026-01-01T00:02:00Z');
  const status = (estimatedStoredAt?: string) => ({
    checkpointId: 'cp-1',
    state: 'queued' as const,
    ...(estimatedStoredAt ? { estimatedStoredAt } : {}),
  });

  test("follows the agent's estimate plus the margin", () => {
    assert.equal(
      waitUntil(status('2026-01-01T00:00:30Z'), cutoff, 20_000),
      Date.parse('2026-01-01T00:00:50Z'),
    );
  });

  test("never past the agent's own answer at the cut-off, with or without an estimate", () => {
    const last = waitUntil(status(), cutoff, 20_000);
    assert.ok(last > cutoff && last - cutoff <= 10_000, 'a little after the cut-off, for the answer');
    assert.equal(waitUntil(status('2026-01-01T00:01:55Z'), cutoff, 20_000), last);
  });
});
