// The transmission phase: read requests, run them concurrently, reply as each finishes.
import { EndOfStream, type ByteReader } from "./byte-reader.js";
import { runCommand, storesData, type Outcome, type Request } from "./commands.js";
import { ProtocolViolation, toNbdError } from "./errors.js";
import { BASE_ALLOCATION_ID, MAX_BLOCK_SIZE, MAX_BYTES_IN_FLIGHT, MAX_REQUESTS_IN_FLIGHT } from "./limits.js";
import { NBD_CMD_DISC, NBD_CMD_READ, NBD_CMD_WRITE, NBD_REQUEST_HEADER_BYTES, NBD_REQUEST_MAGIC } from "./protocol.js";
import { blockStatusChunk, errorChunk, noneChunk, offsetDataHeader, simpleReply } from "./replies.js";
import type { ReadBuffers } from "./read-buffers.js";
import type { ReplyWriter } from "./reply-writer.js";
import type { NbdLog, Session } from "./session.js";
import { StickvmError } from "../errors/errors.js";

function parseRequest(h: Buffer): Request {
  if (h.readUInt32BE(0) !== NBD_REQUEST_MAGIC) throw new ProtocolViolation("bad request magic");
  return {
    flags: h.readUInt16BE(4),
    type: h.readUInt16BE(6),
    handle: { hi: h.readUInt32BE(8), lo: h.readUInt32BE(12) },
    offset: h.readUInt32BE(16) * 2 ** 32 + h.readUInt32BE(20),
    length: h.readUInt32BE(24),
  };
}

/**
 * Requests run against the device as soon as they are read; NBD lets replies go out in any
 * order, and nothing orders requests in flight, so none are held back for one another (a
 * layer keeps its own partial-block writes safe). Back-pressure: no new request is read while
 * MAX_REQUESTS_IN_FLIGHT run, while their payloads and read data pass MAX_BYTES_IN_FLIGHT, or
 * while the socket holds more than that in unsent replies; the socket then stays paused.
 */
class Transmission {
  private requests = 0;
  private bytes = 0;
  private wake: (() => void) | null = null;

  constructor(
    private readonly session: Session,
    private readonly reader: ByteReader,
    private readonly writer: ReplyWriter,
    private readonly log: NbdLog,
    private readonly buffers: ReadBuffers,
  ) {}

  async run(): Promise<void> {
    try {
      for (;;) {
        await this.admit();
        const r = parseRequest(await this.reader.read(NBD_REQUEST_HEADER_BYTES));
        if (r.type === NBD_CMD_DISC) return;
        if (r.type !== NBD_CMD_WRITE) this.start(r, null);
        else if (r.length > MAX_BLOCK_SIZE) {
          // Refused (EINVAL) without holding the payload: it is read and dropped to stay in step.
          this.start(r, null);
          await this.reader.skip(r.length);
        } else this.start(r, await this.reader.read(r.length));
      }
    } catch (err) {
      if (!(err instanceof EndOfStream)) throw err;
    } finally {
      while (this.requests > 0) await this.changed();
    }
  }

  private changed(): Promise<void> {
    return new Promise((resolve) => (this.wake = resolve));
  }

  private async admit(): Promise<void> {
    while (this.requests >= MAX_REQUESTS_IN_FLIGHT || this.bytes >= MAX_BYTES_IN_FLIGHT) await this.changed();
    await this.writer.drainedTo(MAX_BYTES_IN_FLIGHT);
  }

  private start(r: Request, payload: Buffer | null): void {
    // Held bytes: the payload, or the data a READ will return (an oversized one is refused unread).
    const cost = (r.type === NBD_CMD_READ || payload !== null) && r.length <= MAX_BLOCK_SIZE ? r.length : 0;
    this.requests++;
    this.bytes += cost;
    void this.serve(r, payload).finally(() => {
      this.requests--;
      this.bytes -= cost;
      const wake = this.wake;
      this.wake = null;
      wake?.();
    });
  }

  /** Never rejects: a failure anywhere, encoding the reply included, becomes an error reply. */
  private async serve(r: Request, payload: Buffer | null): Promise<void> {
    let reply: Buffer[];
    let sent: (() => void) | undefined;
    try {
      const outcome = await runCommand(this.session, r, payload, this.buffers);
      if (outcome !== null && "release" in outcome) sent = outcome.release;
      reply = this.replyTo(r, outcome);
    } catch (err) {
      const e = toNbdError(err, storesData(r.type));
      // no command name or handle in the line: one failing stick fails them all alike (quiet-repeats.ts)
      if (e.worthLogging) this.log("warn", `export ${this.session.name}: ${err instanceof StickvmError ? err.message : String(err)}`);
      reply = [this.session.structured ? errorChunk(r.handle, e.errno, e.message) : simpleReply(r.handle, e.errno)];
    }
    this.writer.send(reply, sent);
  }

  private replyTo(r: Request, outcome: Outcome): Buffer[] {
    const { handle } = r;
    if (outcome === null) return [simpleReply(handle, 0)];
    if ("extents" in outcome) return [blockStatusChunk(handle, BASE_ALLOCATION_ID, outcome.extents)];
    if (!this.session.structured) return [simpleReply(handle, 0), outcome.data];
    if (outcome.data.length === 0) return [noneChunk(handle)];
    return [offsetDataHeader(handle, r.offset, outcome.data.length), outcome.data];
  }
}

/** Serves requests until DISC, end of stream or stop; waits for every request in flight. Throws ProtocolViolation. */
export function serveRequests(session: Session, reader: ByteReader, writer: ReplyWriter, log: NbdLog, buffers: ReadBuffers): Promise<void> {
  return new Transmission(session, reader, writer, log, buffers).run();
}
