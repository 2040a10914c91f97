import {
  ApiException,
  type CoreV1Api,
  PatchStrategy,
  setHeaderOptions,
  type V1Node,
  type V1Taint,
} from '@kubernetes/client-node';
import type { EventKind } from '../common/events.js';
import { TAINT_KEY } from '../common/labels.js';

export interface NodeTainter {
  /** Taints the node `spot-rescue.io/interrupted=<kind>:NoSchedule` and cordons it. */
  taintAndCordon(node: V1Node, kind: EventKind): Promise<'patched' | 'unchanged'>;
}

const MAX_ATTEMPTS = 5;

/** The node's taints with ours set to this kind (replacing an earlier kind's), or undefined when already so. */
export function taintsWith(node: V1Node, kind: EventKind): V1Taint[] | undefined {
  const taints = node.spec?.taints ?? [];
  const ours = taints.find((t) => t.key === TAINT_KEY && t.effect === 'NoSchedule');
  if (ours?.value === kind && node.spec?.unschedulable === true) return undefined;
  return [
    ...taints.filter((t) => !(t.key === TAINT_KEY && t.effect === 'NoSchedule')),
    { key: TAINT_KEY, value: kind, effect: 'NoSchedule' },
  ];
}

/**
 * Node taints are an atomic list, so the patch carries the whole list and the
 * resourceVersion it was computed from; when someone else changed the node in
 * between, the API server answers 409 and the list is recomputed from a fresh read.
 */
export class KubeNodeTainter implements NodeTainter {
  constructor(private readonly core: CoreV1Api) {}

  async taintAndCordon(cached: V1Node, kind: EventKind): Promise<'patched' | 'unchanged'> {
    let node = cached;
    const name = node.metadata?.name ?? '';
    for (let attempt = 1; ; attempt++) {
      const taints = taintsWith(node, kind);
      if (!taints) return 'unchanged';
      try {
        await this.core.patchNode(
          {
            name,
            body: {
              metadata: { resourceVersion: node.metadata?.resourceVersion },
              spec: { unschedulable: true, taints },
            },
          },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        );
        return 'patched';
      } catch (err) {
        if (!(err instanceof ApiException && err.code === 409) || attempt >= MAX_ATTEMPTS) throw err;
        node = await this.core.readNode({ name });
      }
    }
  }
}
