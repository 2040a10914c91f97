import type { V1Pod } from '@kubernetes/client-node';
import { bytes } from './quantity.js';

/**
 * How much memory a checkpoint of these containers will dump. The API has no
 * usage figures, so the limit (the most the process can hold) is the safe
 * bound, then the request, then a configured default.
 */
export function checkpointMemoryEstimate(pod: V1Pod, defaultBytes: number): number {
  let total = 0;
  for (const c of pod.spec?.containers ?? []) {
    const lim = bytes(c.resources?.limits?.['memory']);
    const req = bytes(c.resources?.requests?.['memory']);
    total += lim > 0 ? lim : req > 0 ? req : defaultBytes;
  }
  return total;
}
