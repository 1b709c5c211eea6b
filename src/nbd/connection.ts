import type { Socket } from "node:net";
import { ByteReader, EndOfStream } from "./byte-reader.js";
import { ProtocolViolation } from "./errors.js";
import { negotiate } from "./handshake.js";
import { CLOSE_GRACE_MS } from "./limits.js";
import type { ReadBuffers } from "./read-buffers.js";
import { ReplyWriter } from "./reply-writer.js";
import type { NbdExports, NbdLog } from "./session.js";
import { serveRequests } from "./transmission.js";

/** One client from accept to close. Whatever the client sends, `done` resolves and never rejects. */
export class Connection {
  readonly done: Promise<void>;
  private readonly reader: ByteReader;
  private transmitting = false;

  constructor(
    private readonly socket: Socket,
    exports: NbdExports,
    private readonly log: NbdLog,
    private readonly buffers: ReadBuffers,
  ) {
    socket.setNoDelay(true);
    socket.on("error", (err) => {
      log("debug", `connection error: ${err.message}`);
    });
    this.reader = new ByteReader(socket);
    this.done = this.run(exports);
  }

  /**
   * Server shutdown: a handshake is cut; in transmission, requests already read finish and
   * get their replies, within a grace period for clients that do not read them.
   */
  stop(): void {
    if (!this.transmitting) {
      this.socket.destroy();
      return;
    }
    this.reader.stop();
    setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS).unref();
  }

  private async run(exports: NbdExports): Promise<void> {
    const writer = new ReplyWriter(this.socket);
    try {
      const session = await negotiate(this.reader, writer, exports);
      if (session !== null) {
        this.transmitting = true;
        this.log("debug", `client entered transmission on export ${session.name}`);
        await serveRequests(session, this.reader, writer, this.log, this.buffers);
      }
      await this.endGracefully();
    } catch (err) {
      if (err instanceof EndOfStream) await this.endGracefully();
      else {
        this.log(err instanceof ProtocolViolation ? "debug" : "warn", `dropping client: ${String(err)}`);
        this.socket.destroy();
      }
    }
  }

  /** Sends what is queued, then closes; a client that neither reads nor closes is cut after a grace period. */
  private async endGracefully(): Promise<void> {
    this.reader.stop();
    if (this.socket.destroyed) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS);
      this.socket.once("close", () => {
        clearTimeout(timer);
        resolve();
      });
      this.socket.end();
    });
  }
}
