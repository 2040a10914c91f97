import { hostname } from 'node:os';
import type { EventsV1Api, V1Node } from '@kubernetes/client-node';
import { NODE_EVENT_REASONS } from '../common/event-reasons.js';
import type { Logger } from '../common/logger.js';
import { NODE_EVENT_NAMESPACE, type NodeEvent, nodeEventBody } from '../common/node-event-body.js';
import { type ClaimFailureCause, describeClaimFailure } from './cordon-without-redis.js';
import type { ActionableEvent } from './events/source.js';
import type { PodPlan } from './plan.js';

export type { NodeEvent };

const REPORTING_CONTROLLER = 'spot-rescue.io/listener';

const timeLeft = (event: ActionableEvent, receivedAt: Date): string =>
  event.deadline === null
    ? 'no deadline'
    : `deadline ${event.deadline} (${Math.round((Date.parse(event.deadline) - receivedAt.getTime()) / 1000)} s left)`;

/** The story of a node the listener handled, as Events on the Node. Pure, so the wording is tested apart. */
export function nodeStory(event: ActionableEvent, plan: PodPlan, receivedAt: Date): NodeEvent[] {
  const left = timeLeft(event, receivedAt);
  const migrate = plan.jobs.filter((j) => j.name === 'migrate-pod').length;
  const evict = plan.jobs.filter((j) => j.name === 'evict-pod').length;
  const story: NodeEvent[] = [
    {
      type: 'Warning',
      reason: NODE_EVENT_REASONS.interruptionReceived,
      action: 'Interrupt',
      note: `${event.kind} ${event.eventId}: ${left}`,
    },
    {
      type: 'Normal',
      reason: NODE_EVENT_REASONS.cordoned,
      action: 'Cordon',
      note: `tainted spot-rescue.io/interrupted=${event.kind}:NoSchedule and cordoned`,
    },
  ];
  if (event.response === 'drain') {
    story.push({
      type: 'Normal',
      reason: NODE_EVENT_REASONS.rescuePlanned,
      action: 'Plan',
      note: `${migrate + evict} pods planned: ${migrate} to migrate, ${evict} to evict, ${plan.skipped.length} left alone`,
    });
  }
  return story;
}

/**
 * The node cordoned without Redis (cordon-without-redis.ts): one Warning
 * that says so and that its pods stay until Redis answers. The full story
 * follows when the retry handles the node.
 */
export function waitingForRedisStory(
  event: ActionableEvent,
  receivedAt: Date,
  cause: ClaimFailureCause,
): NodeEvent[] {
  const pods =
    event.response === 'drain' ? '; its pods stay until Redis is back and the rescue is planned' : '';
  return [
    {
      type: 'Warning',
      reason: NODE_EVENT_REASONS.rescueWaitingForRedis,
      action: 'Cordon',
      note: `${event.kind} ${event.eventId}: ${timeLeft(event, receivedAt)}. ${describeClaimFailure(cause)}: tainted spot-rescue.io/interrupted=${event.kind}:NoSchedule and cordoned${pods}`,
    },
  ];
}

export interface NodeEventSink {
  record(node: V1Node, events: readonly NodeEvent[]): Promise<void>;
}

/**
 * Writes Events about a Node through events.k8s.io/v1. Best effort: an Event
 * that cannot be written is logged and never holds up or fails a rescue.
 */
export class KubeNodeEvents implements NodeEventSink {
  constructor(
    private readonly eventsV1: EventsV1Api,
    private readonly log: Logger,
    private readonly instance = hostname(),
  ) {}

  async record(node: V1Node, events: readonly NodeEvent[]): Promise<void> {
    const name = node.metadata?.name ?? '';
    // In order, so the story reads top to bottom in `kubectl describe node`.
    for (const e of events) {
      try {
        await this.eventsV1.createNamespacedEvent({
          namespace: NODE_EVENT_NAMESPACE,
          body: nodeEventBody({ name, uid: node.metadata?.uid }, e, {
            controller: REPORTING_CONTROLLER,
            instance: this.instance,
          }),
        });
      } catch (err) {
        const why = String(err).slice(0, 300);
        this.log.warn({ node: name, reason: e.reason, err: why }, 'could not record a node event');
      }
    }
  }
}
