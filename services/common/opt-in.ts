import type { V1Pod } from '@kubernetes/client-node';
import { MIGRATE_ANNOTATION, NAMESPACE_OPT_IN_LABEL, NAMESPACE_OPT_IN_VALUE } from './labels.js';

/**
 * Whether a pod asked to be migrated: its annotation or its namespace's
 * label. The listener plans with it and the worker checks it again when a
 * job starts.
 */
export function optedIn(
  pod: V1Pod,
  namespaceLabels: (namespace: string) => Readonly<Record<string, string>> | undefined,
): boolean {
  if (pod.metadata?.annotations?.[MIGRATE_ANNOTATION] === 'true') return true;
  const ns = pod.metadata?.namespace;
  return ns !== undefined && namespaceLabels(ns)?.[NAMESPACE_OPT_IN_LABEL] === NAMESPACE_OPT_IN_VALUE;
}
