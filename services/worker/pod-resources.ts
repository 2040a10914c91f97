import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { bytes, cpuMillis } from '../common/quantity.js';

export interface Resources {
  cpuMillis: number;
  memoryBytes: number;
  pods: number;
}

export const ZERO: Resources = { cpuMillis: 0, memoryBytes: 0, pods: 0 };

export function addResources(a: Resources, b: Resources): Resources {
  return {
    cpuMillis: a.cpuMillis + b.cpuMillis,
    memoryBytes: a.memoryBytes + b.memoryBytes,
    pods: a.pods + b.pods,
  };
}

function containerRequests(c: V1Container): Resources {
  const req = c.resources?.requests ?? {};
  const lim = c.resources?.limits ?? {};
  // The scheduler defaults a missing request to the limit; so do we.
  return {
    cpuMillis: cpuMillis(req['cpu'] ?? lim['cpu']),
    memoryBytes: bytes(req['memory'] ?? lim['memory']),
    pods: 0,
  };
}

/** What the scheduler charges a node for this pod: max(sum of containers, largest init container) + overhead. */
export function podRequests(pod: V1Pod): Resources {
  const spec = pod.spec;
  if (!spec) return { ...ZERO, pods: 1 };
  let sum = ZERO;
  for (const c of spec.containers ?? []) sum = addResources(sum, containerRequests(c));
  for (const c of spec.initContainers ?? []) {
    const r = containerRequests(c);
    sum = {
      cpuMillis: Math.max(sum.cpuMillis, r.cpuMillis),
      memoryBytes: Math.max(sum.memoryBytes, r.memoryBytes),
      pods: 0,
    };
  }
  const oh = spec.overhead ?? {};
  return {
    cpuMillis: sum.cpuMillis + cpuMillis(oh['cpu']),
    memoryBytes: sum.memoryBytes + bytes(oh['memory']),
    pods: 1,
  };
}
