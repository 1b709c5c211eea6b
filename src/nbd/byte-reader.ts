import type { Socket } from "node:net";

/** The peer closed the connection, or the server stopped reading it. */
export class EndOfStream extends Error {
  constructor() {
    super("connection closed");
  }
}

/** Bytes kept buffered beyond what the current read needs before the socket is paused. */
const READ_AHEAD_BYTES = 256 * 1024;

/**
 * Exact-length reads from a socket. Chunks are queued as they arrive and handed out as
 * views when one chunk holds the whole read, so a request header costs no copy and a large
 * payload costs one. When nobody is asking for more than is buffered, the socket is paused:
 * a server that stops reading stops the client (back-pressure).
 */
export class ByteReader {
  private readonly chunks: Buffer[] = [];
  /** Offset of the first unread byte in chunks[0]. */
  private head = 0;
  private buffered = 0;
  private want = 0;
  private wake: (() => void) | null = null;
  private ended = false;
  private dropping = false;

  constructor(private readonly socket: Socket) {
    socket.on("data", (chunk: Buffer) => {
      if (this.dropping) return;
      this.chunks.push(chunk);
      this.buffered += chunk.length;
      if (this.buffered >= this.want + READ_AHEAD_BYTES) socket.pause();
      if (this.buffered >= this.want) this.notify();
    });
    const end = (): void => {
      this.ended = true;
      this.notify();
    };
    socket.on("end", end);
    socket.on("close", end);
  }

  /**
   * Stops reading: a pending or later read fails with EndOfStream. Whatever still arrives is
   * dropped, and the socket keeps flowing so that the peer's close is seen.
   */
  stop(): void {
    this.ended = true;
    this.dropping = true;
    this.chunks.length = 0;
    this.buffered = 0;
    this.head = 0;
    this.socket.resume();
    this.notify();
  }

  async read(length: number): Promise<Buffer> {
    if (this.buffered < length) await this.fill(length);
    return this.take(length);
  }

  /** Discards `length` bytes as they arrive, never holding more than the read-ahead. */
  async skip(length: number): Promise<void> {
    let left = length;
    while (left > 0) {
      if (this.buffered === 0) await this.fill(1);
      const n = Math.min(left, this.buffered);
      this.discard(n);
      left -= n;
    }
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  private async fill(length: number): Promise<void> {
    while (this.buffered < length) {
      if (this.ended) throw new EndOfStream();
      this.want = length;
      this.socket.resume();
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
    this.want = 0;
  }

  private take(length: number): Buffer {
    const first = this.chunks[0];
    if (first !== undefined && first.length - this.head >= length) {
      const view = first.subarray(this.head, this.head + length);
      this.discard(length);
      return view;
    }
    const out = Buffer.allocUnsafe(length);
    let filled = 0;
    while (filled < length) {
      const chunk = this.chunks[0];
      if (chunk === undefined) throw new Error("ByteReader: buffered count out of step with chunks");
      const n = Math.min(length - filled, chunk.length - this.head);
      chunk.copy(out, filled, this.head, this.head + n);
      filled += n;
      this.discard(n);
    }
    return out;
  }

  private discard(length: number): void {
    this.buffered -= length;
    let left = length;
    while (left > 0) {
      const chunk = this.chunks[0];
      if (chunk === undefined) break;
      const n = Math.min(left, chunk.length - this.head);
      left -= n;
      this.head += n;
      if (this.head === chunk.length) {
        this.chunks.shift();
        this.head = 0;
      }
    }
  }
}
