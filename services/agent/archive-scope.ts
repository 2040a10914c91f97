import type { S3Client } from '@aws-sdk/client-s3';
import type { ArchiveCredentials } from '../common/agent-api.js';
import type { ArchiveStore } from './archive-store.js';

export interface ScopedStore {
  store: ArchiveStore;
  /** Ends what the operation's client holds (sockets); its credentials go with it. */
  release(): void;
}

/**
 * The S3 access of one operation. With the session credentials the worker
 * sent, the operation reaches only its own checkpoint's objects (the
 * session policy says so); the client is built for that operation and
 * dropped after it, so no credentials outlive it or serve another pod.
 * Without them, the agent's own credentials (local stack, or a node role
 * that kept bucket access).
 */
export class ArchiveStores {
  constructor(
    private readonly own: ArchiveStore,
    private readonly scopedClient: (credentials: ArchiveCredentials) => S3Client,
    private readonly storeOn: (client: S3Client) => ArchiveStore,
  ) {}

  forOperation(credentials: ArchiveCredentials | undefined): ScopedStore {
    if (!credentials) return { store: this.own, release: () => {} };
    const client = this.scopedClient(credentials);
    return { store: this.storeOn(client), release: () => client.destroy() };
  }
}
