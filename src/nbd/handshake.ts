// Fixed newstyle option haggling, up to NBD_OPT_GO or NBD_OPT_EXPORT_NAME.
import type { ByteReader } from "./byte-reader.js";
import { ProtocolViolation } from "./errors.js";
import { BASE_ALLOCATION_ID, MAX_BLOCK_SIZE, MAX_OPTION_BYTES, MIN_BLOCK_SIZE, PREFERRED_BLOCK_SIZE } from "./limits.js";
import { parseInfoRequest, parseMetaContextRequest } from "./option-payloads.js";
import {
  BASE_ALLOCATION,
  IHAVEOPT,
  NBD_FLAG_C_FIXED_NEWSTYLE,
  NBD_FLAG_C_NO_ZEROES,
  NBD_FLAG_FIXED_NEWSTYLE,
  NBD_FLAG_NO_ZEROES,
  NBD_INFO_BLOCK_SIZE,
  NBD_INFO_DESCRIPTION,
  NBD_INFO_EXPORT,
  NBD_INFO_NAME,
  NBD_OPT_ABORT,
  NBD_OPT_EXPORT_NAME,
  NBD_OPT_GO,
  NBD_OPT_INFO,
  NBD_OPT_LIST,
  NBD_OPT_LIST_META_CONTEXT,
  NBD_OPT_SET_META_CONTEXT,
  NBD_OPT_STRUCTURED_REPLY,
  NBD_REP_ACK,
  NBD_REP_ERR_INVALID,
  NBD_REP_ERR_TOO_BIG,
  NBD_REP_ERR_UNKNOWN,
  NBD_REP_ERR_UNSUP,
  NBD_REP_INFO,
  NBD_REP_META_CONTEXT,
  NBD_REP_SERVER,
  NBDMAGIC,
} from "./protocol.js";
import { optionReply } from "./replies.js";
import type { ReplyWriter } from "./reply-writer.js";
import { transmissionFlags, type NbdExport, type NbdExports, type Session } from "./session.js";

const KNOWN_OPTIONS = new Set([
  NBD_OPT_EXPORT_NAME,
  NBD_OPT_ABORT,
  NBD_OPT_LIST,
  NBD_OPT_INFO,
  NBD_OPT_GO,
  NBD_OPT_STRUCTURED_REPLY,
  NBD_OPT_LIST_META_CONTEXT,
  NBD_OPT_SET_META_CONTEXT,
]);

function text(s: string): Buffer {
  return Buffer.from(s, "utf8");
}

class Negotiation {
  private structured = false;
  private noZeroes = false;
  /** The export the last SET_META_CONTEXT named, when it selected base:allocation. */
  private metaExport: string | null = null;

  constructor(
    private readonly reader: ByteReader,
    private readonly writer: ReplyWriter,
    private readonly exports: NbdExports,
  ) {}

  async run(): Promise<Session | null> {
    const greeting = Buffer.allocUnsafe(18);
    greeting.writeBigUInt64BE(NBDMAGIC, 0);
    greeting.writeBigUInt64BE(IHAVEOPT, 8);
    greeting.writeUInt16BE(NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES, 16);
    this.writer.send([greeting]);

    const clientFlags = (await this.reader.read(4)).readUInt32BE(0);
    if ((clientFlags & ~(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES)) !== 0) {
      throw new ProtocolViolation(`unknown client flags 0x${clientFlags.toString(16)}`);
    }
    this.noZeroes = (clientFlags & NBD_FLAG_C_NO_ZEROES) !== 0;

    for (;;) {
      const header = await this.reader.read(16);
      if (header.readBigUInt64BE(0) !== IHAVEOPT) throw new ProtocolViolation("bad option magic");
      const option = header.readUInt32BE(8);
      const length = header.readUInt32BE(12);
      if (length > MAX_OPTION_BYTES) {
        if (option === NBD_OPT_EXPORT_NAME) throw new ProtocolViolation("export name too long");
        await this.reader.skip(length);
        this.reply(option, KNOWN_OPTIONS.has(option) ? NBD_REP_ERR_TOO_BIG : NBD_REP_ERR_UNSUP, text("option too large"));
        continue;
      }
      const data = await this.reader.read(length);
      const outcome = this.option(option, data);
      if (outcome !== undefined) return outcome;
    }
  }

  private reply(option: number, type: number, data?: Buffer): void {
    this.writer.send([optionReply(option, type, data)]);
  }

  /** Handles one option; returns a session to enter transmission, null to end, undefined to go on. */
  private option(option: number, data: Buffer): Session | null | undefined {
    switch (option) {
      case NBD_OPT_EXPORT_NAME:
        return this.exportName(data.toString("utf8"));
      case NBD_OPT_ABORT:
        this.reply(option, NBD_REP_ACK);
        return null;
      case NBD_OPT_LIST:
        this.list(option, data);
        return undefined;
      case NBD_OPT_INFO:
      case NBD_OPT_GO:
        return this.info(option, data);
      case NBD_OPT_STRUCTURED_REPLY:
        if (data.length > 0) this.reply(option, NBD_REP_ERR_INVALID, text("STRUCTURED_REPLY takes no data"));
        else {
          this.structured = true;
          this.reply(option, NBD_REP_ACK);
        }
        return undefined;
      case NBD_OPT_LIST_META_CONTEXT:
      case NBD_OPT_SET_META_CONTEXT:
        this.metaContext(option, data);
        return undefined;
      default:
        this.reply(option, NBD_REP_ERR_UNSUP);
        return undefined;
    }
  }

  private session(name: string, entry: NbdExport): Session {
    return { name, device: entry.device, structured: this.structured, blockStatus: this.metaExport === name };
  }

  private exportName(name: string): Session {
    const entry = this.exports.get(name);
    if (entry === undefined) throw new ProtocolViolation(`no export named ${JSON.stringify(name)}`);
    const out = Buffer.alloc(this.noZeroes ? 10 : 10 + 124);
    out.writeBigUInt64BE(BigInt(entry.device.size), 0);
    out.writeUInt16BE(transmissionFlags(entry.device, this.structured), 8);
    this.writer.send([out]);
    return this.session(name, entry);
  }

  private list(option: number, data: Buffer): void {
    if (data.length > 0) {
      this.reply(option, NBD_REP_ERR_INVALID, text("LIST takes no data"));
      return;
    }
    for (const [name, entry] of this.exports) {
      const nameBytes = text(name);
      const length = Buffer.allocUnsafe(4);
      length.writeUInt32BE(nameBytes.length, 0);
      this.reply(option, NBD_REP_SERVER, Buffer.concat([length, nameBytes, text(entry.description ?? "")]));
    }
    this.reply(option, NBD_REP_ACK);
  }

  private info(option: number, data: Buffer): Session | undefined {
    const request = parseInfoRequest(data);
    if (request === null) {
      this.reply(option, NBD_REP_ERR_INVALID, text("malformed INFO/GO request"));
      return undefined;
    }
    const entry = this.exports.get(request.name);
    if (entry === undefined) {
      this.reply(option, NBD_REP_ERR_UNKNOWN, text(`no export named ${JSON.stringify(request.name)}`));
      return undefined;
    }
    const exportInfo = Buffer.allocUnsafe(12);
    exportInfo.writeUInt16BE(NBD_INFO_EXPORT, 0);
    exportInfo.writeBigUInt64BE(BigInt(entry.device.size), 2);
    exportInfo.writeUInt16BE(transmissionFlags(entry.device, this.structured), 10);
    this.reply(option, NBD_REP_INFO, exportInfo);
    // Sent even when not asked for: a client that did not ask may ignore it, and the limits hold either way.
    const blockSize = Buffer.allocUnsafe(14);
    blockSize.writeUInt16BE(NBD_INFO_BLOCK_SIZE, 0);
    blockSize.writeUInt32BE(MIN_BLOCK_SIZE, 2);
    blockSize.writeUInt32BE(PREFERRED_BLOCK_SIZE, 6);
    blockSize.writeUInt32BE(MAX_BLOCK_SIZE, 10);
    this.reply(option, NBD_REP_INFO, blockSize);
    if (request.infos.includes(NBD_INFO_NAME)) this.reply(option, NBD_REP_INFO, this.infoString(NBD_INFO_NAME, request.name));
    if (request.infos.includes(NBD_INFO_DESCRIPTION) && entry.description !== undefined) {
      this.reply(option, NBD_REP_INFO, this.infoString(NBD_INFO_DESCRIPTION, entry.description));
    }
    this.reply(option, NBD_REP_ACK);
    return option === NBD_OPT_GO ? this.session(request.name, entry) : undefined;
  }

  private infoString(type: number, value: string): Buffer {
    const out = Buffer.allocUnsafe(2);
    out.writeUInt16BE(type, 0);
    return Buffer.concat([out, text(value)]);
  }

  /** base:allocation is the only context. QEMU wants exactly it back from SET, once. */
  private metaContext(option: number, data: Buffer): void {
    const isSet = option === NBD_OPT_SET_META_CONTEXT;
    if (isSet) this.metaExport = null;
    if (!this.structured) {
      this.reply(option, NBD_REP_ERR_INVALID, text("negotiate structured replies first"));
      return;
    }
    const request = parseMetaContextRequest(data);
    if (request === null) {
      this.reply(option, NBD_REP_ERR_INVALID, text("malformed meta context request"));
      return;
    }
    if (!this.exports.has(request.name)) {
      this.reply(option, NBD_REP_ERR_UNKNOWN, text(`no export named ${JSON.stringify(request.name)}`));
      return;
    }
    const selected = isSet
      ? request.queries.includes(BASE_ALLOCATION)
      : request.queries.length === 0 || request.queries.some((q) => q === BASE_ALLOCATION || q === "base:");
    if (selected) {
      const context = Buffer.allocUnsafe(4);
      context.writeUInt32BE(isSet ? BASE_ALLOCATION_ID : 0, 0);
      this.reply(option, NBD_REP_META_CONTEXT, Buffer.concat([context, text(BASE_ALLOCATION)]));
      if (isSet) this.metaExport = request.name;
    }
    this.reply(option, NBD_REP_ACK);
  }
}

/** Runs the handshake; resolves to the session, or null when the client aborted. */
export function negotiate(reader: ByteReader, writer: ReplyWriter, exports: NbdExports): Promise<Session | null> {
  return new Negotiation(reader, writer, exports).run();
}
