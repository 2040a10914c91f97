import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ArchiveStore } from './archive-store.js';
import { ByteLimit } from './byte-limit.js';
import { AgentFailure } from './errors.js';
import { MeasuringStream } from './measuring-stream.js';
import { CommandError } from './process.js';
import type { RestoreSink } from './runtimes/runtime.js';

/**
 * Feeds a decompressor without letting its death stop the download: a
 * tampered archive usually breaks zstd first, yet the answer must be the
 * integrity verdict, so hashing runs to the last byte regardless.
 */
class LenientForwarder extends Writable {
  private dead = false;

  constructor(private readonly target: Writable) {
    super();
    target.on('error', () => {
      this.dead = true;
    });
    target.on('close', () => {
      this.dead = true;
    });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.dead || this.target.destroyed || this.target.write(chunk)) {
      cb();
      return;
    }
    const resume = () => {
      this.target.off('drain', resume);
      this.target.off('close', resume);
      cb();
    };
    this.target.on('drain', resume);
    this.target.on('close', resume);
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (!this.dead && !this.target.destroyed) this.target.end();
    cb();
  }
}

export interface DownloadResult {
  bytesCompressed: number;
  bytesRaw: number;
}

/**
 * S3 -> sha256 -> zstd -d -> runtime sink, overlapped. Only when the sha256
 * matches the manifest does the caller get to restore; otherwise the sink is
 * discarded (every unpacked file removed) and the answer is integrity-mismatch.
 */
export async function streamArchiveFromStore(
  store: ArchiveStore,
  /** bytesRaw: what the source reported; decompression stops there. */
  source: { bucket: string; key: string; sha256: string; bytesRaw: number },
  sink: RestoreSink,
  zstdBin: string,
  signal: AbortSignal,
): Promise<DownloadResult> {
  const hasher = new MeasuringStream({ sha256: true });
  const raw = new MeasuringStream({ sha256: false });
  const child = spawn(zstdBin, ['-d', '-q', '-c', '-'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr = (stderr + d).slice(-4096);
  });
  child.stdin.on('error', () => {});
  const exited = new Promise<void>((resolve, reject) =>
    child.once('close', (code) =>
      code === 0 ? resolve() : reject(new CommandError('zstd -d', code, stderr)),
    ),
  );
  const kill = () => child.kill('SIGKILL');
  signal.addEventListener('abort', kill, { once: true });
  // Not a byte past what the source reported reaches the node's disk.
  const limit = new ByteLimit(source.bytesRaw);
  limit.on('error', kill);
  let bytesRaw = 0;
  let unpackedRaw: Promise<unknown>;
  if ('unpackFrom' in sink) {
    child.stdout.pipe(limit);
    unpackedRaw = sink.unpackFrom(limit).then((n) => {
      bytesRaw = n;
    });
  } else {
    unpackedRaw = Promise.all([pipeline(child.stdout, limit, raw, sink.writable), sink.written()]).then(
      () => {
        bytesRaw = raw.bytes;
      },
    );
  }
  const unpacked = Promise.all([unpackedRaw, exited]);
  unpacked.catch(() => {});
  try {
    let body: Readable;
    try {
      body = await store.download(source.bucket, source.key, signal);
      await pipeline(body, hasher, new LenientForwarder(child.stdin), { signal });
    } catch (err) {
      kill();
      if (signal.aborted) throw err;
      throw new AgentFailure(
        'storage-failed',
        `downloading s3://${source.bucket}/${source.key}: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    const actual = hasher.sha256();
    if (actual !== source.sha256) {
      kill();
      await unpacked.catch(() => {});
      throw new AgentFailure(
        'integrity-mismatch',
        `s3://${source.bucket}/${source.key} has sha256 ${actual}, the manifest says ${source.sha256}: refusing to restore it`,
      );
    }
    try {
      await unpacked;
    } catch (err) {
      if (limit.exceeded)
        throw new AgentFailure(
          'integrity-mismatch',
          `s3://${source.bucket}/${source.key} decompresses past the ${source.bytesRaw} bytes its source reported: refusing it`,
        );
      throw new AgentFailure(
        'runtime-failed',
        `the verified archive could not be unpacked: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    return { bytesCompressed: hasher.bytes, bytesRaw };
  } finally {
    signal.removeEventListener('abort', kill);
  }
}
