import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jobId, priorityForDeadline } from '../../../services/common/jobs.js';

test('job ids are deterministic and free of the key separator', () => {
  const a = jobId('migrate-pod', 'arn:aws:health:us-east-1::event/EC2/x', 'uid-1');
  assert.equal(a, jobId('migrate-pod', 'arn:aws:health:us-east-1::event/EC2/x', 'uid-1'));
  assert.ok(!a.includes(':'));
  assert.notEqual(a, jobId('migrate-pod', 'arn:aws:health:us-east-1::event/EC2/x', 'uid-2'));
  assert.notEqual(a, jobId('evict-pod', 'arn:aws:health:us-east-1::event/EC2/x', 'uid-1'));
});

test('sooner deadlines get more urgent (lower) priorities, clamped to BullMQ range', () => {
  const now = Date.parse('2026-09-01T12:00:00Z');
  assert.equal(priorityForDeadline('2026-09-01T12:02:00Z', now), 120);
  assert.equal(priorityForDeadline('2026-09-01T12:00:10Z', now), 10);
  assert.equal(priorityForDeadline('2026-09-01T11:59:00Z', now), 1, 'a passed deadline is the most urgent');
  assert.equal(priorityForDeadline(null, now), 2_000_000, 'no deadline is the least urgent');
  assert.equal(priorityForDeadline('2030-01-01T00:00:00Z', now), 2_000_000);
});
