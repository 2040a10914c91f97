import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Transform } from 'node:stream';
import { forward } from '../test/support/http-forward.js';

/**
 * Each simulated node's own uplink to S3, for `bench:window --node-uplink-mibps`.
 *
 * On EKS every node brings its own cores and its own network interface; here
 * every simulated node shares two cores, and a burst moved 1.24 to 1.7x less
 * than the calibration just before it (restores, the agents and the
 * workloads take the same cores). With each node's uploads held to a rate
 * well under what the machine can do, the node's network is what limits a
 * checkpoint, as it does on an instance with a baseline bandwidth, and the
 * calibration measures the rate the burst can hold. The agents see an
 * ordinary S3 endpoint: the proxy forwards every request to the real one
 * unchanged and paces only request bodies, per node, in arrival order.
 */
export class NodeUplinks {
  private readonly nextFree = new Map<string, number>();
  /** Bytes each node has sent, for the run's record. */
  readonly sent = new Map<string, number>();

  constructor(
    /** Bytes per second each node may send. */
    readonly bytesPerSec: number,
    /** How far ahead of its pace a node may send (a NIC's buffer): ms. */
    private readonly burstMs = 50,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(bytesPerSec > 0)) throw new Error(`an uplink needs a rate above 0 (got ${bytesPerSec})`);
  }

  /** How long `node` must wait before sending `bytes` (ms); books them on its uplink. */
  reserve(node: string, bytes: number): number {
    const now = this.now();
    const free = Math.max(now, this.nextFree.get(node) ?? now) + (bytes / this.bytesPerSec) * 1000;
    this.nextFree.set(node, free);
    this.sent.set(node, (this.sent.get(node) ?? 0) + bytes);
    return Math.max(0, free - now - this.burstMs);
  }

  /** A stream that passes `node`'s bytes through at its uplink's pace. */
  pace(node: string): Transform {
    return new Transform({
      transform: (chunk: Buffer, _enc, done) => {
        const wait = this.reserve(node, chunk.length);
        if (wait === 0) done(null, chunk);
        else setTimeout(() => done(null, chunk), wait);
      },
    });
  }
}

export interface UplinkProxy {
  url: string;
  close(): Promise<void>;
}

/**
 * An HTTP proxy in front of `target` (moto's endpoint) that sends each
 * request's body at the pace of the node `nodeOf(path)` names; requests of
 * no known node, and every response, pass as they are.
 */
export async function startUplinkProxy(o: {
  target: string;
  uplinks: NodeUplinks;
  nodeOf(path: string): string | undefined;
}): Promise<UplinkProxy> {
  const target = new URL(o.target);
  const server = createServer((req, res) => {
    const node = o.nodeOf(decodeURIComponent((req.url ?? '/').split('?')[0] ?? ''));
    // The Host the client signed goes on unchanged: moto checks nothing, and S3 would check it against the signature.
    forward(target, req, res, node ? o.uplinks.pace(node) : undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * The node whose archive a path of the bucket belongs to: the worker's
 * prefix is `<cluster>/<namespace>/<pod>/<uid>/<checkpoint>/...` and the
 * calibration's `calibration/<pod>/<checkpoint>/...`, so any segment that
 * is a pod of `podNodes` names it.
 */
export function nodeOfArchivePath(podNodes: ReadonlyMap<string, string>, path: string): string | undefined {
  for (const segment of path.split('/')) {
    const node = podNodes.get(segment);
    if (node) return node;
  }
  return undefined;
}
