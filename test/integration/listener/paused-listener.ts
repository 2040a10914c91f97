/**
 * `spot-rescue listener` as its command runs it, with the one test seam the
 * service takes: every node waits the given milliseconds between planning and
 * enqueuing, and says so in the log ("pausing before enqueue"), so a test can
 * kill or stop the process while a message is in flight.
 *
 *   node --import tsx test/integration/listener/paused-listener.ts <ms>
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger } from '../../../services/common/logger.js';
import { runListenerService } from '../../../services/listener/service.js';

const pauseMs = Number(process.argv[2]);
if (!Number.isInteger(pauseMs) || pauseMs <= 0) throw new Error('usage: paused-listener.ts <pause ms>');
const log = createLogger('listener', 'info');

await runListenerService(process.env, {
  beforeEnqueue: async (node) => {
    log.warn({ ...node, ms: pauseMs }, 'pausing before enqueue');
    await sleep(pauseMs);
  },
});
// As `spot-rescue listener` does: everything is closed; don't wait for the SDKs' idle sockets.
process.exit(0);
