// Reply buffers for READ, reused once the socket has sent them.

/** The smallest and largest pooled buffer; a longer read gets a buffer of its own. */
const MIN_CLASS_BYTES = 4096;
export const MAX_POOLED_READ = 1024 * 1024;

/**
 * Buffers that devices with `readInto` fill and the socket sends, taken back once sent. A
 * fresh large buffer per read costs the process new pages (a page fault each 4 KiB, and the
 * pages zeroed) and the garbage collector a buffer to find; a reused one costs neither.
 * Sizes are powers of two from 4 KiB to MAX_POOLED_READ; a read gets a view of the right
 * length. At most `maxBytes` are pooled (lent or free): past that, and for longer reads,
 * `take` hands out a plain buffer, which `give` ignores.
 */
export class ReadBuffers {
  private readonly free = new Map<number, Buffer[]>();
  /** The memory of pooled buffers out on loan: a second `give` of one is ignored, not pooled twice. */
  private readonly lent = new Set<ArrayBufferLike>();
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  /** Bytes of pooled buffers, lent or free. */
  get pooledBytes(): number {
    return this.bytes;
  }

  /** A buffer of `length` bytes, uninitialised; hand it back with `give` once nothing reads it any more. */
  take(length: number): Buffer {
    const size = classOf(length);
    if (size === undefined) return Buffer.allocUnsafeSlow(length);
    let whole = this.free.get(size)?.pop();
    if (whole === undefined) {
      if (this.bytes + size > this.maxBytes) this.dropFree(size);
      if (this.bytes + size > this.maxBytes) return Buffer.allocUnsafeSlow(length);
      // memory of its own, so that `give` finds the size from it
      whole = Buffer.allocUnsafeSlow(size);
      this.bytes += size;
    }
    this.lent.add(whole.buffer);
    return whole.subarray(0, length);
  }

  /** Takes back a buffer from `take` (its memory is reused: the caller must not read it any more). */
  give(buf: Buffer): void {
    if (!this.lent.delete(buf.buffer)) return;
    const size = buf.buffer.byteLength;
    const list = this.free.get(size);
    const whole = Buffer.from(buf.buffer, 0, size);
    if (list === undefined) this.free.set(size, [whole]);
    else list.push(whole);
  }

  /** Lets the garbage collector have free buffers of other sizes until `size` more fits. */
  private dropFree(size: number): void {
    for (const [other, list] of this.free) {
      if (other === size) continue;
      while (list.length > 0 && this.bytes + size > this.maxBytes) {
        list.pop();
        this.bytes -= other;
      }
    }
  }
}

/** The pooled size for a read of `length` bytes, or undefined when it is not pooled. */
function classOf(length: number): number | undefined {
  if (length > MAX_POOLED_READ) return undefined;
  let size = MIN_CLASS_BYTES;
  while (size < length) size *= 2;
  return size;
}
