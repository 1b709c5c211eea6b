// Encoders for what the server sends: option replies in the handshake, simple and
// structured replies in transmission. Headers are small fresh buffers; data is never copied.
import type { Extent } from "../layers/block-device.js";
import {
  NBD_OPT_REPLY_MAGIC,
  NBD_REPLY_FLAG_DONE,
  NBD_REPLY_TYPE_BLOCK_STATUS,
  NBD_REPLY_TYPE_ERROR,
  NBD_REPLY_TYPE_NONE,
  NBD_REPLY_TYPE_OFFSET_DATA,
  NBD_SIMPLE_REPLY_HEADER_BYTES,
  NBD_SIMPLE_REPLY_MAGIC,
  NBD_STATE_HOLE,
  NBD_STATE_ZERO,
  NBD_STRUCTURED_REPLY_HEADER_BYTES,
  NBD_STRUCTURED_REPLY_MAGIC,
} from "./protocol.js";

/** The client's opaque 8-byte handle, kept as two numbers so no request pins its socket chunk. */
export interface Handle {
  hi: number;
  lo: number;
}

export function optionReply(option: number, type: number, data: Buffer = Buffer.alloc(0)): Buffer {
  const out = Buffer.allocUnsafe(20 + data.length);
  out.writeBigUInt64BE(NBD_OPT_REPLY_MAGIC, 0);
  out.writeUInt32BE(option, 8);
  out.writeUInt32BE(type, 12);
  out.writeUInt32BE(data.length, 16);
  data.copy(out, 20);
  return out;
}

export function simpleReply(handle: Handle, errno: number): Buffer {
  const out = Buffer.allocUnsafe(NBD_SIMPLE_REPLY_HEADER_BYTES);
  out.writeUInt32BE(NBD_SIMPLE_REPLY_MAGIC, 0);
  out.writeUInt32BE(errno, 4);
  out.writeUInt32BE(handle.hi, 8);
  out.writeUInt32BE(handle.lo, 12);
  return out;
}

function structuredHeader(out: Buffer, handle: Handle, type: number, length: number): void {
  out.writeUInt32BE(NBD_STRUCTURED_REPLY_MAGIC, 0);
  out.writeUInt16BE(NBD_REPLY_FLAG_DONE, 4);
  out.writeUInt16BE(type, 6);
  out.writeUInt32BE(handle.hi, 8);
  out.writeUInt32BE(handle.lo, 12);
  out.writeUInt32BE(length, 16);
}

/** The header of a one-chunk READ reply; `data` follows it on the wire. */
export function offsetDataHeader(handle: Handle, offset: number, dataLength: number): Buffer {
  const out = Buffer.allocUnsafe(NBD_STRUCTURED_REPLY_HEADER_BYTES + 8);
  structuredHeader(out, handle, NBD_REPLY_TYPE_OFFSET_DATA, 8 + dataLength);
  out.writeUInt32BE(Math.floor(offset / 2 ** 32), 20);
  out.writeUInt32BE(offset >>> 0, 24);
  return out;
}

export function noneChunk(handle: Handle): Buffer {
  const out = Buffer.allocUnsafe(NBD_STRUCTURED_REPLY_HEADER_BYTES);
  structuredHeader(out, handle, NBD_REPLY_TYPE_NONE, 0);
  return out;
}

export function errorChunk(handle: Handle, errno: number, message: string): Buffer {
  const text = Buffer.from(message.slice(0, 512), "utf8");
  const out = Buffer.allocUnsafe(NBD_STRUCTURED_REPLY_HEADER_BYTES + 6 + text.length);
  structuredHeader(out, handle, NBD_REPLY_TYPE_ERROR, 6 + text.length);
  out.writeUInt32BE(errno, 20);
  out.writeUInt16BE(text.length, 24);
  text.copy(out, 26);
  return out;
}

export function blockStatusChunk(handle: Handle, contextId: number, extents: readonly Extent[]): Buffer {
  const out = Buffer.allocUnsafe(NBD_STRUCTURED_REPLY_HEADER_BYTES + 4 + 8 * extents.length);
  structuredHeader(out, handle, NBD_REPLY_TYPE_BLOCK_STATUS, 4 + 8 * extents.length);
  out.writeUInt32BE(contextId, 20);
  let at = 24;
  for (const e of extents) {
    out.writeUInt32BE(e.length, at);
    out.writeUInt32BE((e.hole ? NBD_STATE_HOLE : 0) | (e.zero ? NBD_STATE_ZERO : 0), at + 4);
    at += 8;
  }
  return out;
}
