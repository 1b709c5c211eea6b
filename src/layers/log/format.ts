import { AEAD_OVERHEAD } from "../../crypto/aead.js";
import { ByteReader, ByteWriter, LayoutError } from "../../util/bytes.js";

// Names and numbers of the user log, version 1, as stick-layout/FORMAT.md "User log" gives them.

export const LOG_VERSION = 1;
export const BLOCK_BYTES = 4096;
export const LOG_ID_BYTES = 16;

export const SUPERBLOCK_FILE = "superblock.bin";
export const SUPERBLOCK_COPY_BYTES = 4096;
export const SUPERBLOCK_FILE_BYTES = 2 * SUPERBLOCK_COPY_BYTES;

export function segmentFileName(n: number): string {
  return `segment-${n.toString().padStart(8, "0")}.bin`;
}

export function checkpointFileName(slot: number): string {
  return `checkpoint-${slot}.bin`;
}

export const MAGIC = {
  superblock: Buffer.from("SVMLOGS\0", "latin1"),
  segment: Buffer.from("SVMLSEG\0", "latin1"),
  record: Buffer.from("SVLR", "latin1"),
} as const;

/** Records start here in every segment; bytes [0, 4096) hold the segment header. */
export const SEGMENT_HEADER_BYTES = 4096;
export const SEGMENT_HEADER_USED = 32;
export const MIN_SEGMENT_BYTES = 64 * 1024;
/** Well under FAT32's 4 GiB; offsets in a segment fit a u32. */
export const MAX_SEGMENT_BYTES = 1024 * 1024 * 1024;
export const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;

export const RECORD_HEAD_BYTES = 32;
/**
 * A data record carries at most this many blocks (64 KiB), sealed as one value: one cipher call
 * per record rather than per block, while a 4 KiB read opens at most 64 KiB.
 */
export const MAX_RECORD_BLOCKS = 16;

export enum RecordType {
  Data = 1,
  Zero = 2,
  Commit = 3,
  Jump = 4,
}

const RECORD_TYPES = new Map<number, RecordType>([RecordType.Data, RecordType.Zero, RecordType.Commit, RecordType.Jump].map((t) => [t, t]));

/** Plaintext length of each record type's descriptor. */
export const DESCRIPTOR_BYTES: Record<RecordType, number> = {
  [RecordType.Data]: 4, // first block
  [RecordType.Zero]: 8, // first block, block count
  [RecordType.Commit]: 0,
  [RecordType.Jump]: 4, // next segment
};

/** Bytes of a data record's sealed blocks. */
export function sealedDataBytes(blocks: number): number {
  return blocks * BLOCK_BYTES + AEAD_OVERHEAD;
}

export function recordBytes(type: RecordType, blocks: number): number {
  return RECORD_HEAD_BYTES + DESCRIPTOR_BYTES[type] + AEAD_OVERHEAD + (type === RecordType.Data ? sealedDataBytes(blocks) : 0);
}

export const COMMIT_BYTES = recordBytes(RecordType.Commit, 0);
export const JUMP_BYTES = recordBytes(RecordType.Jump, 0);
/** Room every data or zero record leaves after itself: a commit, then a jump to the next segment. */
export const TAIL_ROOM = COMMIT_BYTES + JUMP_BYTES;

export interface RecordHead {
  type: RecordType;
  generation: number;
  blocks: number;
  seq: number;
  sealedDescriptorBytes: number;
}

// The record head and the AADs are built for every record a write appends: one buffer each,
// written in place (ByteWriter makes two small buffers per field).

/** Writes a u64 below 2^53 (every number here is) as two u32 halves, without a BigInt. */
function putU64(b: Buffer, v: number, at: number): void {
  b.writeUInt32LE(v % 2 ** 32, at);
  b.writeUInt32LE(Math.floor(v / 2 ** 32), at + 4);
}

export function encodeRecordHead(h: RecordHead): Buffer {
  const b = Buffer.alloc(RECORD_HEAD_BYTES);
  MAGIC.record.copy(b, 0);
  b.writeUInt8(h.type, 4);
  b.writeUInt32LE(h.generation, 8);
  b.writeUInt32LE(h.blocks, 12);
  putU64(b, h.seq, 16);
  b.writeUInt32LE(h.sealedDescriptorBytes, 24);
  return b;
}

/** Parses a record head; the descriptor's AEAD (with the head in its AAD) is what authenticates it. */
export function parseRecordHead(buf: Buffer): RecordHead {
  const r = new ByteReader(buf, "record head");
  r.expect(MAGIC.record);
  const type = r.u8();
  r.zeros(3);
  const generation = r.u32();
  const blocks = r.u32();
  const seq = r.u64();
  const sealedDescriptorBytes = r.u32();
  r.zeros(4);
  const t = RECORD_TYPES.get(type);
  if (t === undefined) throw new LayoutError(`record head: unknown type ${type}`);
  if (sealedDescriptorBytes !== DESCRIPTOR_BYTES[t] + AEAD_OVERHEAD) throw new LayoutError("record head: wrong descriptor length");
  const okBlocks = t === RecordType.Data ? blocks >= 1 && blocks <= MAX_RECORD_BLOCKS : blocks === 0;
  if (!okBlocks) throw new LayoutError(`record head: ${blocks} blocks in a record of type ${type}`);
  return { type: t, generation, blocks, seq, sealedDescriptorBytes };
}

const RECORD_AAD_LABEL = Buffer.from("stickvm log record v1\0", "latin1");
const DATA_AAD_LABEL = Buffer.from("stickvm log data v1\0", "latin1");
const CHECKPOINT_AAD_LABEL = Buffer.from("stickvm log checkpoint v1\0", "latin1");

/** Binds a descriptor to its log, its place (segment, offset) and its head (generation, sequence, lengths). */
export function recordAad(logId: Buffer, segment: number, offset: number, head: Buffer): Buffer {
  const b = Buffer.allocUnsafe(RECORD_AAD_LABEL.length + logId.length + 12 + head.length);
  let at = RECORD_AAD_LABEL.copy(b, 0);
  at += logId.copy(b, at);
  at = b.writeUInt32LE(segment, at);
  putU64(b, offset, at);
  head.copy(b, at + 8);
  return b;
}

/** Binds a data record's sealed blocks to their log, their place, the blocks they hold and their record. */
export function dataAad(logId: Buffer, segment: number, offset: number, first: number, blocks: number, generation: number, seq: number): Buffer {
  const b = Buffer.allocUnsafe(DATA_AAD_LABEL.length + logId.length + 32);
  let at = DATA_AAD_LABEL.copy(b, 0);
  at += logId.copy(b, at);
  at = b.writeUInt32LE(segment, at);
  putU64(b, offset, at);
  at = b.writeUInt32LE(first, at + 8);
  at = b.writeUInt32LE(blocks, at);
  at = b.writeUInt32LE(generation, at);
  putU64(b, seq, at);
  return b;
}

/** Binds a checkpoint to its log, its slot and the replay start the superblock gives with it. */
export function checkpointAad(logId: Buffer, slot: number, generation: number, start: LogPosition): Buffer {
  return new ByteWriter()
    .bytes(CHECKPOINT_AAD_LABEL)
    .bytes(logId)
    .u8(slot)
    .u32(generation)
    .u64(start.seq)
    .u32(start.segment)
    .u64(start.offset)
    .finish();
}

export function encodeSegmentHeader(logId: Buffer, segment: number): Buffer {
  return new ByteWriter().bytes(MAGIC.segment).u16(LOG_VERSION).zeros(2).u32(segment).bytes(logId).finish();
}

/** Why a segment header is not the one expected, or undefined. */
export function segmentHeaderProblem(buf: Buffer, logId: Buffer, segment: number): string | undefined {
  if (buf.length < SEGMENT_HEADER_USED) return "it is truncated";
  const r = new ByteReader(buf, "segment header");
  if (!r.bytes(8).equals(MAGIC.segment)) return "bad magic";
  if (r.u16() !== LOG_VERSION) return "unsupported version";
  r.bytes(2);
  if (r.u32() !== segment) return "it holds another segment number";
  if (!r.bytes(LOG_ID_BYTES).equals(logId)) return "it belongs to another log";
  return undefined;
}

/** Where a record starts, and the sequence number it must carry. */
export interface LogPosition {
  segment: number;
  offset: number;
  seq: number;
}

export const NO_CHECKPOINT = 255;
