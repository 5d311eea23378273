// A few large buffers reused from one reply to the next. A media download
// builds a zip of up to a few MiB and compresses it into another buffer, for
// every batch; fresh buffers each time cost page faults and garbage
// collections (the profile's largest items after zstd itself). A buffer
// comes back only once the socket has taken its bytes (the reply's 'finish'
// or 'close'), and the pool empties itself when unused for a while, so an
// idle server keeps none.

/** Buffers kept between replies. */
const MAX_KEPT = 4;
/** Larger buffers are not kept. */
const MAX_KEPT_BYTES = 16 * 1024 * 1024;
/** Sizes are rounded up to this, so that batches of similar sizes share buffers. */
const GRANULE = 256 * 1024;
const IDLE_MS = 30_000;

export class BufferPool {
  private readonly kept: Buffer[] = [];
  private idleTimer: NodeJS.Timeout | undefined;

  /** A buffer of at least `size` bytes (contents undefined); give it back when done. */
  take(size: number): Buffer {
    const i = this.kept.findIndex((b) => b.length >= size);
    if (i >= 0) return this.kept.splice(i, 1)[0]!;
    return Buffer.allocUnsafeSlow(Math.ceil(Math.max(size, 1) / GRANULE) * GRANULE);
  }

  give(buffer: Buffer): void {
    if (buffer.length > MAX_KEPT_BYTES) return;
    if (this.kept.length >= MAX_KEPT) {
      // Keep the larger ones: they can serve any request the smaller could.
      this.kept.sort((a, b) => a.length - b.length);
      if (this.kept[0]!.length >= buffer.length) return;
      this.kept.shift();
    }
    this.kept.push(buffer);
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.clear(), IDLE_MS).unref();
  }

  clear(): void {
    this.kept.length = 0;
    clearTimeout(this.idleTimer);
  }

  get size(): number {
    return this.kept.length;
  }
}

/** The pool of reply buffers (media zips and their compressed form). */
export const replyBuffers = new BufferPool();
