import { join } from 'node:path';
import { resolveWithin } from './contained-path.js';

/**
 * Where one node's files live: <state dir>/nodes/<node>/..., so simulated
 * nodes never share state. Every directory named after something a request
 * carries (a checkpoint, a container) is resolved within its parent and
 * refused (PathOutsideRoot) if it would leave it.
 */
export class NodeLayout {
  readonly nodeDir: string;
  readonly workDir: string;

  constructor(stateDir: string, node: string, workDir?: string) {
    this.nodeDir = resolveWithin(join(stateDir, 'nodes'), node);
    this.workDir = workDir ? resolveWithin(workDir, node) : join(this.nodeDir, 'work');
  }

  get runcRoot(): string {
    return join(this.nodeDir, 'runc');
  }

  get containersDir(): string {
    return join(this.nodeDir, 'containers');
  }

  containerDir(id: string): string {
    return resolveWithin(this.containersDir, id);
  }

  checkpointDir(checkpointId: string, container: string): string {
    return resolveWithin(resolveWithin(join(this.workDir, 'checkpoints'), checkpointId), container);
  }

  restoreDir(unique: string): string {
    return resolveWithin(join(this.workDir, 'restores'), unique);
  }

  get imagesDir(): string {
    return join(this.nodeDir, 'images');
  }

  /** CRIU options runc hands to CRIU for this node's containers (their `org.criu.config` annotation). */
  get criuConfigFile(): string {
    return join(this.nodeDir, 'criu', 'runc.conf');
  }
}

/** runc container id of a pod's container; `_` cannot occur in Kubernetes names, so ids never collide. */
export function runcIdOf(namespace: string, pod: string, container: string): string {
  return `${namespace}_${pod}_${container}`;
}
