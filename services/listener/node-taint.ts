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

/** A taint as the API server writes it in JSON, so that a JSON patch `test` can compare it byte for byte. */
export interface WireTaint {
  key: string;
  value?: string;
  effect: string;
  timeAdded?: string;
}

/**
 * The API server writes a time as RFC 3339 in whole seconds (metav1.Time);
 * a list through the client library hands it back as a Date (which would
 * serialise with milliseconds), a watch event as the server's string.
 */
function wireTime(t: Date | string): string {
  return typeof t === 'string' ? t : t.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function wireTaints(taints: readonly V1Taint[]): WireTaint[] {
  return taints.map((t) => ({
    key: t.key,
    ...(t.value !== undefined && t.value !== '' ? { value: t.value } : {}),
    effect: t.effect,
    ...(t.timeAdded ? { timeAdded: wireTime(t.timeAdded as Date | string) } : {}),
  }));
}

export type JsonPatchOp =
  | { op: 'test'; path: string; value: unknown }
  | { op: 'add'; path: string; value: unknown };

/**
 * The JSON patch (RFC 6902) that sets our taint and cordons the node, or
 * undefined when it already is. Taints are an atomic list, so the new list is
 * written whole, behind a `test` that the list is still the one it was
 * computed from: a concurrent change to the taints fails the patch (422)
 * instead of being overwritten, while a change anywhere else on the node (the
 * kubelet's or kwok's status heartbeats, which bump the resourceVersion) does
 * not. No taints at all is tested as null, which the API server's JSON patch
 * matches only against an absent list.
 */
export function taintPatch(node: V1Node, kind: EventKind): JsonPatchOp[] | undefined {
  const taints = taintsWith(node, kind);
  if (!taints) return undefined;
  const read = node.spec?.taints ?? [];
  return [
    { op: 'test', path: '/spec/taints', value: read.length > 0 ? wireTaints(read) : null },
    { op: 'add', path: '/spec/taints', value: wireTaints(taints) },
    { op: 'add', path: '/spec/unschedulable', value: true },
  ];
}

const sameTaints = (a: readonly V1Taint[] | undefined, b: readonly V1Taint[] | undefined) =>
  JSON.stringify(wireTaints(a ?? [])) === JSON.stringify(wireTaints(b ?? []));

/**
 * What became of one PATCH: applied; refused because the taints changed
 * since they were read (the `test`, 422); given up by the API server against
 * other writers (409); or failed otherwise.
 */
export const TAINT_PATCH_OUTCOMES = ['ok', 'taints-changed', 'conflict', 'error'] as const;
export type TaintPatchOutcome = (typeof TAINT_PATCH_OUTCOMES)[number];

export function taintPatchOutcome(err: unknown): TaintPatchOutcome {
  if (!(err instanceof ApiException)) return 'error';
  return err.code === 422 ? 'taints-changed' : err.code === 409 ? 'conflict' : 'error';
}

export class KubeNodeTainter implements NodeTainter {
  constructor(
    private readonly core: CoreV1Api,
    /** Told of every PATCH sent (metrics): how often a node costs more than one is the figure to watch. */
    private readonly onPatch: (outcome: TaintPatchOutcome) => void = () => {},
  ) {}

  async taintAndCordon(cached: V1Node, kind: EventKind): Promise<'patched' | 'unchanged'> {
    let node = cached;
    const name = node.metadata?.name ?? '';
    for (let attempt = 1; ; attempt++) {
      const patch = taintPatch(node, kind);
      if (!patch) return 'unchanged';
      try {
        await this.core.patchNode(
          { name, body: patch },
          setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
        );
        this.onPatch('ok');
        return 'patched';
      } catch (err) {
        const outcome = taintPatchOutcome(err);
        this.onPatch(outcome);
        // 422: a patch op failed, the `test` when the taints changed since they were read.
        // 409: the API server gave up its own retries against other writers.
        if (outcome === 'error' || attempt >= MAX_ATTEMPTS) throw err;
        const fresh = await this.core.readNode({ name });
        // Taints as tested yet still refused: not the test, so a fresh read would not help.
        if (outcome === 'taints-changed' && sameTaints(fresh.spec?.taints, node.spec?.taints)) throw err;
        node = fresh;
      }
    }
  }
}
