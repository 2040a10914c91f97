import type { V1Pod } from '@kubernetes/client-node';
import { nodeView } from '../node-view.js';
import { podRequests } from '../pod-resources.js';
import type { Run } from './context.js';

/** Asks the provisioner (provision-capacity job) for room for this pod; a no-op in `none` mode. */
export async function askForCapacity(run: Run, pod: V1Pod, quiet = false): Promise<void> {
  const { d, job } = run;
  if (d.config.provisionMode === 'none') return;
  const r = podRequests(pod);
  const view = job.node.name ? await d.cluster.getNode(job.node.name) : null;
  const source = view ? nodeView(view) : undefined;
  const zones = await d.cluster.volumeZones(pod);
  try {
    await d.requestCapacity({
      event: job.event,
      node: job.node,
      cpuMillis: r.cpuMillis,
      memoryBytes: r.memoryBytes,
      ...((zones[0] ?? job.node.zone) ? { zone: zones[0] ?? job.node.zone } : {}),
      ...(source?.arch ? { arch: source.arch } : {}),
    });
  } catch (err) {
    if (!quiet) run.log.warn({ err: (err as Error).message }, 'could not request capacity');
  }
}
