import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

/**
 * Passes bytes through unchanged while counting them and (optionally)
 * hashing them, so sizes and sha256 come for free as the archive streams.
 */
export class MeasuringStream extends Transform {
  private readonly hash: Hash | undefined;
  private digest: string | undefined;
  bytes = 0;

  constructor(opts: { sha256: boolean }) {
    super();
    this.hash = opts.sha256 ? createHash('sha256') : undefined;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    this.hash?.update(chunk);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    if (this.hash) this.digest = this.hash.digest('hex');
    cb();
  }

  /** The sha256 (hex) of everything that passed; only once the stream has ended. */
  sha256(): string {
    if (this.digest === undefined) throw new Error('sha256 read before the stream ended (or hashing is off)');
    return this.digest;
  }
}
