import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jobId, priorityForDeadline, priorityForMigration } from '../../../services/common/jobs.js';

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

test('migrations in one burst go smallest first, and a sooner deadline still comes first', () => {
  const now = Date.parse('2026-09-01T12:00:00Z');
  const MiB = 2 ** 20;
  const at = (s: number) => new Date(now + s * 1000).toISOString();
  const gib = priorityForMigration(at(118), 1024 * MiB, now);
  const small = priorityForMigration(at(118), 16 * MiB, now);
  assert.ok(small < gib, 'the 16 MiB checkpoint starts before the 1 GiB one');
  assert.ok(
    priorityForMigration(at(119), 8 * MiB, now) < priorityForMigration(at(117), 512 * MiB, now),
    'within one deadline step, size decides',
  );
  assert.ok(
    priorityForMigration(at(60), 64 * 1024 * MiB, now) < priorityForMigration(at(118), 1 * MiB, now),
    'a deadline a minute sooner wins over any size',
  );
  assert.ok(
    priorityForMigration(at(118), 700 * MiB, now) < priorityForMigration(at(118), 1024 * MiB, now),
    'sizes a quarter-octave apart are ordered',
  );
  assert.equal(priorityForMigration(at(-5), 0, now), 1, 'past deadline, no memory: the most urgent');
  assert.equal(priorityForMigration('2030-01-01T00:00:00Z', MiB, now), 2_000_000, 'clamped to BullMQ range');
  assert.ok(priorityForMigration(at(118), 1024 * 1024 * MiB, now) < 2_000_000, 'huge pods stay in range');
});
