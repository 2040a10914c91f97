import { pipeline } from 'node:stream/promises';
import type { ArchiveStore } from './archive-store.js';
import { MeasuringStream } from './measuring-stream.js';
import { processStage } from './process.js';
import type { CheckpointedContainer } from './runtime.js';

export interface ZstdOptions {
  bin: string;
  level: number;
  threads: number;
}

export interface StreamResult {
  bytesRaw: number;
  bytesCompressed: number;
  sha256: string;
}

/** Runs stages together; the first failure aborts the rest so none waits on a dead partner. */
async function allOrAbort(stages: Promise<unknown>[], inner: AbortController): Promise<void> {
  const guarded = stages.map((p) =>
    p.catch((err: unknown) => {
      if (!inner.signal.aborted) inner.abort(err);
      throw err;
    }),
  );
  const results = await Promise.allSettled(guarded);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw inner.signal.reason ?? failed.reason;
}

/**
 * archive -> zstd -> sha256 -> S3 multipart, all stages running at once, so
 * the upload starts with the first compressed megabytes and memory holds at
 * most queueSize parts. Any failure tears the whole chain down and the store
 * leaves no object behind.
 */
export async function streamArchiveToStore(
  checkpoint: CheckpointedContainer,
  store: ArchiveStore,
  target: { bucket: string; key: string },
  zstd: ZstdOptions,
  signal: AbortSignal,
): Promise<StreamResult> {
  const inner = new AbortController();
  const abortInner = () => inner.abort(signal.reason);
  if (signal.aborted) abortInner();
  signal.addEventListener('abort', abortInner, { once: true });
  const raw = new MeasuringStream({ sha256: false });
  const compressed = new MeasuringStream({ sha256: true });
  const compressor = processStage(zstd.bin, [`-${zstd.level}`, `-T${zstd.threads}`, '-q', '-c', '-'], {
    signal: inner.signal,
  });
  let uploaded = false;
  try {
    await allOrAbort(
      [
        pipeline(checkpoint.open(), raw, compressor.stream, compressed, { signal: inner.signal }),
        compressor.exited,
        store.upload(target.bucket, target.key, compressed, inner.signal).then(() => {
          uploaded = true;
        }),
      ],
      inner,
    );
    return { bytesRaw: raw.bytes, bytesCompressed: compressed.bytes, sha256: compressed.sha256() };
  } catch (err) {
    // zstd can report a failure after its last byte went up: that object is not trustworthy.
    if (uploaded) await store.remove(target.bucket, target.key).catch(() => {});
    throw err;
  } finally {
    signal.removeEventListener('abort', abortInner);
  }
}
