import type { CoreV1Api, V1Pod } from '@kubernetes/client-node';
import { statusOf } from '../common/kube.js';
import { optedIn } from '../common/opt-in.js';

export interface NamespaceLabels {
  /** The namespace's labels, undefined when it does not exist. */
  labels(namespace: string): Promise<Record<string, string> | undefined>;
}

export class KubeNamespaceLabels implements NamespaceLabels {
  constructor(private readonly core: CoreV1Api) {}

  async labels(namespace: string): Promise<Record<string, string> | undefined> {
    try {
      return (await this.core.readNamespace({ name: namespace })).metadata?.labels ?? {};
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  }
}

/** Whether the pod is opted in now, reading its namespace only when its own annotation does not say so. */
export async function podOptedIn(pod: V1Pod, namespaces: NamespaceLabels): Promise<boolean> {
  if (optedIn(pod, () => undefined)) return true;
  const labels = await namespaces.labels(pod.metadata?.namespace ?? '');
  return optedIn(pod, () => labels);
}
