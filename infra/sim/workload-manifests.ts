import type {
  V1Deployment,
  V1Job,
  V1JobSpec,
  V1Pod,
  V1PodSpec,
  V1PodTemplateSpec,
  V1StatefulSet,
  V1StatefulSetSpec,
} from '@kubernetes/client-node';

/**
 * The workloads a simulated cluster runs, as the objects a user would apply:
 * one builder per kind, so the sample mix, the chaos rounds and the worker's
 * test bed make their Deployments, StatefulSets, Jobs and bare pods the same
 * way. Every pod is labelled `app: <name>`, which is what its controller
 * selects and what the tests list it by.
 */

/** The pods of one workload: their spec, and the annotations they carry (the per-pod opt-in). */
export interface WorkloadPods {
  spec: V1PodSpec;
  annotations?: Record<string, string>;
}

function podTemplate(app: string, pods: WorkloadPods) {
  return {
    metadata: { labels: { app }, ...(pods.annotations ? { annotations: pods.annotations } : {}) },
    spec: pods.spec,
  } satisfies V1PodTemplateSpec;
}

export function deploymentManifest(name: string, replicas: number, pods: WorkloadPods): V1Deployment {
  return {
    metadata: { name },
    spec: { replicas, selector: { matchLabels: { app: name } }, template: podTemplate(name, pods) },
  };
}

/** One replica (so the pod is `<name>-0`), its governing service named after it. */
export function statefulSetManifest(
  name: string,
  pods: WorkloadPods,
  extra: Partial<V1StatefulSetSpec> = {},
): V1StatefulSet {
  return {
    metadata: { name },
    spec: {
      replicas: 1,
      serviceName: name,
      selector: { matchLabels: { app: name } },
      template: podTemplate(name, pods),
      ...extra,
    },
  };
}

/** A Job whose pod is never restarted in place: a pod that ends is the Job's to replace (or not). */
export function jobManifest(name: string, pods: WorkloadPods, extra: Partial<V1JobSpec> = {}): V1Job {
  const template = podTemplate(name, { ...pods, spec: { ...pods.spec, restartPolicy: 'Never' } });
  return { metadata: { name }, spec: { template, ...extra } };
}

/** A pod no controller owns: nothing recreates it if it goes. */
export function podManifest(name: string, pods: WorkloadPods): V1Pod {
  const { metadata, spec } = podTemplate(name, pods);
  return { metadata: { name, ...metadata }, spec };
}
