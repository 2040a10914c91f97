/**
 * Every reason spot-rescue writes on a Kubernetes Event, in one place, so
 * operators can filter on them (`kubectl get events --field-selector
 * reason=...`) and alerting can rely on them. UpperCamelCase as Kubernetes
 * reasons are; no product prefix, since the reporting controller
 * (`spot-rescue.io/<component>`) already says who wrote the event.
 */
export const NODE_EVENT_REASONS = {
  /** The listener acted on an interruption event for the node (Warning). */
  interruptionReceived: 'InterruptionReceived',
  /** The node is tainted and unschedulable. */
  cordoned: 'Cordoned',
  /**
   * Redis gave no answer to the listener, so it tainted and cordoned the node on its own and the
   * rescue waits for Redis (Warning): until then the pods stay on the node.
   */
  rescueWaitingForRedis: 'RescueWaitingForRedis',
  /** Jobs for the node's pods are queued: how many migrate, how many are evicted. */
  rescuePlanned: 'RescuePlanned',
  /** Every planned pod has left the node: how many were migrated and how many evicted. */
  rescueFinished: 'RescueFinished',
} as const;

/** Reasons on a Pod's events (the worker's). */
export const POD_EVENT_REASONS = {
  rescueStarted: 'RescueStarted',
  /** The source agent accepted a checkpoint the worker deferred to it, with its estimate. */
  checkpointAccepted: 'CheckpointAccepted',
  checkpointed: 'Checkpointed',
  /** The target was interrupted or cordoned while the pod was restored on it; another is tried (Warning). */
  restoreTargetLost: 'RestoreTargetLost',
  restored: 'Restored',
  fellBackToEviction: 'RescueFellBackToEviction',
  evicting: 'SpotRescueEvicting',
} as const;

export type NodeEventReason = (typeof NODE_EVENT_REASONS)[keyof typeof NODE_EVENT_REASONS];
export type PodEventReason = (typeof POD_EVENT_REASONS)[keyof typeof POD_EVENT_REASONS];
