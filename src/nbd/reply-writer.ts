import type { Socket } from "node:net";

/**
 * Sends replies. The socket is corked for the rest of the tick on the first write, so a
 * header and its data, and every reply finished in the same tick, leave in one writev with
 * no copy. Replies to a closed socket are dropped: the client that would read them is gone.
 */
export class ReplyWriter {
  private corked = false;

  constructor(private readonly socket: Socket) {}

  get open(): boolean {
    return !this.socket.destroyed && this.socket.writable;
  }

  /** Bytes written but not yet taken by the kernel: the reply side of back-pressure. */
  get queuedBytes(): number {
    return this.socket.writableLength;
  }

  /** Queues `parts`; `sent` runs once the socket is done with them (written, or the socket gone). */
  send(parts: readonly Buffer[], sent?: () => void): void {
    if (!this.open) {
      sent?.();
      return;
    }
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    parts.forEach((part, i) => this.socket.write(part, i === parts.length - 1 ? sent : undefined));
  }

  /** Resolves once queued replies are down to `limit` bytes, or the socket is gone. */
  async drainedTo(limit: number): Promise<void> {
    while (this.open && this.socket.writableLength > limit) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          this.socket.off("drain", done);
          this.socket.off("close", done);
          resolve();
        };
        this.socket.once("drain", done);
        this.socket.once("close", done);
      });
    }
  }
}
