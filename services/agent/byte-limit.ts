import { Transform, type TransformCallback } from 'node:stream';

/** Raised when a stream carries more bytes than it was allowed. */
export class ByteLimitExceeded extends Error {
  constructor(readonly limit: number) {
    super(`more than the ${limit} bytes allowed`);
    this.name = 'ByteLimitExceeded';
  }
}

/**
 * Passes at most `limit` bytes and fails on the first byte past it, before
 * writing it on: what a decompressor produces is bounded by what the source
 * reported, however small the compressed input (a zstd bomb).
 */
export class ByteLimit extends Transform {
  bytes = 0;
  exceeded = false;

  constructor(private readonly limit: number) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.limit) {
      this.exceeded = true;
      cb(new ByteLimitExceeded(this.limit));
      return;
    }
    cb(null, chunk);
  }
}
