import type { ListenerService } from '../../../services/listener/service.js';
import { inProcessListener, TestQueues } from './harness.js';
import { SimCluster } from './sim-cluster.js';

/**
 * A listener suite's setting: simulated nodes and pods (`cluster`), a
 * namespace opted in by its label (`optedNs`), queues of the suite's own
 * (`queues`: SQS with its DLQ, a BullMQ prefix, on the stack's Redis unless
 * the suite names another) and a listener in this process reading them.
 * `close()` removes all of it.
 */
export class ListenerBed {
  readonly cluster = new SimCluster();
  readonly queues: TestQueues;
  optedNs = '';
  private listener: ListenerService | undefined;

  constructor(redisUrl?: string, prefix?: string) {
    this.queues = new TestQueues(redisUrl, prefix);
  }

  async setUp(): Promise<void> {
    await this.queues.create();
    this.optedNs = await this.cluster.namespace({ 'spot-rescue.io/migrate': 'enabled' });
    this.listener = await inProcessListener(this.queues.config());
  }

  async close(): Promise<void> {
    await this.listener?.stop();
    await this.cluster.cleanup();
    await this.queues.cleanup();
  }
}
