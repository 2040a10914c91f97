import type { Readable, Writable } from 'node:stream';
import type { ContainerArchive, Manifest } from '../../common/agent-api.js';

export interface ContainerRef {
  namespace: string;
  pod: string;
  podUid: string;
  container: string;
}

/**
 * The uncompressed archive as a descriptor the compressor process reads
 * itself, so its bytes (8 times the compressed ones) never pass through the
 * agent's event loop: 3.6 CPU-s per GiB through Node before, none now.
 */
export interface ArchiveInput {
  /** The stdout of the process writing the archive, or an open file: the compressor's stdin. */
  stdin: Readable | number;
  /** The archive's exact size once complete; rejects if the producer failed (the archive is truncated). */
  done: Promise<number>;
  /** Stops the producer and releases the descriptor; safe to call more than once. */
  close(): void;
}

/** A container dumped by a runtime, whose archive is about to be streamed away. */
export interface CheckpointedContainer {
  /** The uncompressed archive in the checkpointctl layout, for the compressor to read; call once. */
  input(): ArchiveInput;
  /** The archive is safely stored: drop local files. */
  commit(): Promise<void>;
  /** The archive could not be stored: put the container back as it was before the checkpoint. */
  rollback(): Promise<void>;
}

/** Where a verified archive goes on the target node: a stream written here, or a process fed directly. */
export type RestoreSink = RestoreSinkActions &
  (
    | {
        /** Receives the uncompressed archive while it downloads (before it is verified). */
        writable: Writable;
        /** Resolves once everything written has landed. */
        written(): Promise<void>;
      }
    | {
        /**
         * The decompressor's stdout, for the unpacking process to read itself,
         * so the raw bytes never pass through Node. Resolves with the
         * archive's size once unpacked.
         */
        unpackFrom(stdin: Readable): Promise<number>;
      }
  );

export interface RestoreSinkActions {
  /** The archive matched its manifest: restore it. Returns the image to use, for runtimes that need one. */
  restore(signal: AbortSignal): Promise<{ image?: string }>;
  /** The archive did not match (or the restore was abandoned): remove every unpacked file. */
  discard(): Promise<void>;
}

/** A container a checkpoint left frozen (or with a raw archive) on this node. */
export interface ReleaseTarget extends ContainerRef {
  checkpointId: string;
}

export interface RestoreTarget {
  namespace: string;
  pod: string;
  container: string;
  manifest: Manifest;
  archive: ContainerArchive;
}

/**
 * One interface, two implementations (runc locally, the kubelet in
 * production); the worker never knows which one runs.
 */
export interface CheckpointRuntime {
  readonly name: Manifest['runtime'];
  /** true when checkpoints can be taken here, otherwise the reason they cannot. */
  ready(): Promise<true | string>;
  criuVersion(): Promise<string>;
  /** `signal` fires at the deadline; `deadline` lets a runtime pass the time left on (the kubelet's timeout). */
  checkpoint(
    ref: ContainerRef,
    checkpointId: string,
    signal: AbortSignal,
    deadline?: Date,
  ): Promise<CheckpointedContainer>;
  prepareRestore(target: RestoreTarget, signal: AbortSignal): Promise<RestoreSink>;
  /**
   * Ends what a checkpoint left on this node: thaws the container if this
   * agent froze it, removes raw archives. true when it thawed it. Idempotent.
   */
  release(target: ReleaseTarget): Promise<boolean>;
}
