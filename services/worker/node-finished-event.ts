import { hostname } from 'node:os';
import type { EventsV1Api } from '@kubernetes/client-node';
import { NODE_EVENT_REASONS } from '../common/event-reasons.js';
import type { Logger } from '../common/logger.js';
import { NODE_EVENT_NAMESPACE, type NodeEvent, nodeEventBody } from '../common/node-event-body.js';
import type { NodeOutcome } from './finalize.js';

/** How a node's rescue ended, as the last Event of its story. Pure. */
export function rescueFinishedEvent(o: NodeOutcome): NodeEvent {
  const lifecycle = o.lifecycleCompleted ? '; lifecycle action completed' : '';
  const left = o.remaining > 0 ? `, ${o.remaining} still on the node at the deadline` : '';
  return {
    // Anything but every planned pod migrated is worth a look.
    type: o.restored === o.planned ? 'Normal' : 'Warning',
    reason: NODE_EVENT_REASONS.rescueFinished,
    action: 'Finish',
    note: `${o.planned} pods planned: ${o.restored} migrated, ${o.removed} evicted or gone${left}${lifecycle}`,
  };
}

/** Writes the RescueFinished Event on the Node, best effort: the outcome is already recorded. */
export class NodeFinishedEvents {
  constructor(
    private readonly eventsV1: EventsV1Api,
    private readonly log: Logger,
    private readonly instance = hostname(),
  ) {}

  async record(o: NodeOutcome): Promise<void> {
    try {
      await this.eventsV1.createNamespacedEvent({
        namespace: NODE_EVENT_NAMESPACE,
        body: nodeEventBody({ name: o.node }, rescueFinishedEvent(o), {
          controller: 'spot-rescue.io/worker',
          instance: this.instance,
        }),
      });
    } catch (err) {
      this.log.warn({ node: o.node, err: String(err).slice(0, 300) }, 'could not record the node event');
    }
  }
}
