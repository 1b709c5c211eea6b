import { ByteReader, ByteWriter, LayoutError } from "../src/util/bytes.js";
import { CHUNK_ID_BYTES } from "./format.js";

// Pack files and their records (FORMAT.md "Pack files").
export const PACK_MAGIC = Buffer.from("SVMPACK\0", "latin1");
export const PACK_VERSION = 1;
export const PACK_HEADER_BYTES = 16;
export const RECORD_HEAD_BYTES = CHUNK_ID_BYTES + 4;

export function encodePackHeader(packNumber: number): Buffer {
  return new ByteWriter().bytes(PACK_MAGIC).u16(PACK_VERSION).zeros(2).u32(packNumber).finish();
}

export function parsePackHeader(buf: Buffer): number {
  const r = new ByteReader(buf, "pack header");
  r.expect(PACK_MAGIC);
  const version = r.u16();
  if (version !== PACK_VERSION) throw new LayoutError(`pack header: version ${version} is not supported`);
  r.zeros(2);
  return r.u32();
}

/** Record head: chunk id || sealed length; the sealed chunk follows. */
export function encodeRecordHead(id: Uint8Array, sealedLength: number): Buffer {
  return new ByteWriter().bytes(id).u32(sealedLength).finish();
}

export function parseRecord(buf: Buffer): { id: Buffer; sealed: Buffer } {
  const r = new ByteReader(buf, "pack record");
  const id = r.bytes(CHUNK_ID_BYTES);
  const length = r.u32();
  if (r.remaining !== length) throw new LayoutError(`pack record: sealed length ${length} but ${r.remaining} bytes follow`);
  return { id, sealed: r.bytes(length) };
}
