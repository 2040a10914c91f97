import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ArchiveStore } from './archive-store.js';
import { MeasuringStream } from './measuring-stream.js';
import { processSource } from './process.js';
import type { CheckpointedContainer } from './runtimes/runtime.js';

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

/**
 * Holds back the end of the compressed stream until the producer has
 * finished cleanly. zstd sees a clean end of input even when the producer
 * failed half-way; without this the upload would complete (a truncated
 * archive stored under its name) before anyone knew.
 */
function endsOnceComplete(done: Promise<unknown>): Transform {
  return new Transform({
    transform: (chunk, _enc, cb) => cb(null, chunk),
    flush: (cb) => {
      done.then(
        () => cb(),
        (err: Error) => cb(err),
      );
    },
  });
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
  const zstdArgs = [`-${zstd.level}`, `-T${zstd.threads}`, '-q', '-c', '-'];
  const compressed = new MeasuringStream({ sha256: true });
  const input = checkpoint.input();
  let uploaded = false;
  let bytesRaw = 0;
  // The raw archive goes from its producer straight into zstd; only compressed bytes come here.
  const compressor = processSource(zstd.bin, zstdArgs, { stdin: input.stdin });
  // zstd holds its own copy of the pipe; ours must go, or it would never see the end of the data.
  if (typeof input.stdin !== 'number') input.stdin.destroy();
  const stop = () => {
    compressor.kill();
    input.close();
  };
  inner.signal.addEventListener('abort', stop, { once: true });
  try {
    await allOrAbort(
      [
        pipeline(compressor.stream, endsOnceComplete(input.done), compressed, { signal: inner.signal }),
        input.done.then((n) => {
          bytesRaw = n;
        }),
        store.upload(target.bucket, target.key, compressed, inner.signal).then(() => {
          uploaded = true;
        }),
      ],
      inner,
    );
    return { bytesRaw, bytesCompressed: compressed.bytes, sha256: compressed.sha256() };
  } catch (err) {
    // zstd can report a failure after its last byte went up: that object is not trustworthy.
    // A failed delete is told with the failure, never dropped.
    if (uploaded)
      await store.remove(target.bucket, target.key).catch((e: Error) => {
        if (err instanceof Error)
          err.message += `; removing s3://${target.bucket}/${target.key} failed too: ${e.message}`;
      });
    throw err;
  } finally {
    inner.signal.removeEventListener('abort', stop);
    input.close();
    signal.removeEventListener('abort', abortInner);
  }
}
