import { randomBytes } from 'node:crypto';
import { type EventsV1Event, V1MicroTime } from '@kubernetes/client-node';
import type { NodeEventReason } from './event-reasons.js';

/** Events on cluster-scoped objects live in the default namespace, where `kubectl describe node` looks. */
export const NODE_EVENT_NAMESPACE = 'default';
const MAX_NOTE = 1024;

export interface NodeEvent {
  type: 'Normal' | 'Warning';
  reason: NodeEventReason;
  /** Machine-readable: what was done (events.k8s.io/v1 `action`). */
  action: string;
  note: string;
}

/**
 * An events.k8s.io/v1 Event about a Node, named as Kubernetes' own recorders
 * name them (`<object>.<hex time>`; the API rejects a generateName ending in
 * a dot), with a random tail so two replicas never collide. Each component
 * sends it with its own client, so its RBAC shows the call.
 */
export function nodeEventBody(
  node: { name: string; uid?: string | undefined },
  e: NodeEvent,
  reporter: { controller: string; instance: string },
): EventsV1Event {
  return {
    metadata: {
      name: `${node.name}.${Date.now().toString(16)}${randomBytes(3).toString('hex')}`,
      namespace: NODE_EVENT_NAMESPACE,
    },
    eventTime: new V1MicroTime(),
    reportingController: reporter.controller,
    reportingInstance: reporter.instance,
    action: e.action,
    reason: e.reason,
    type: e.type,
    note: e.note.slice(0, MAX_NOTE),
    regarding: { apiVersion: 'v1', kind: 'Node', name: node.name, ...(node.uid ? { uid: node.uid } : {}) },
  };
}
