import { jobId, QUEUES } from '../../services/common/jobs.js';
import type { PlannedJob } from '../../services/listener/plan.js';
import { uidFor } from './kube-uid.js';

/**
 * A migrate-pod job for pod `shop/<pod>` on node-a, shaped as the listener
 * plans one, for tests of what reads the queues (no pod needs to exist).
 */
export function plannedMigration(pod: string, deadline: Date, eventId: string): PlannedJob {
  return {
    queue: QUEUES.rescue,
    name: 'migrate-pod',
    jobId: jobId('migrate-pod', eventId, uidFor(pod)),
    priority: 1,
    data: {
      event: {
        id: eventId,
        kind: 'spot-interruption',
        deadline: deadline.toISOString(),
        receivedAt: new Date().toISOString(),
        eventTime: new Date().toISOString(),
      },
      node: { name: 'node-a', instanceId: 'i-0abc123def4567890' },
      pod: { namespace: 'shop', name: pod, uid: uidFor(pod) },
      deadline: deadline.toISOString(),
    },
  };
}
