import { AeadAuthError, open } from "../../crypto/aead.js";
import { StickvmError } from "../../errors/errors.js";
import { LayoutError } from "../../util/bytes.js";
import type { ExtentMap } from "./extent-map.js";
import {
  RECORD_HEAD_BYTES,
  RecordType,
  SEGMENT_HEADER_BYTES,
  dataAad,
  parseRecordHead,
  recordAad,
  recordBytes,
  sealedDataBytes,
  type LogPosition,
} from "./format.js";
import type { LogKeys } from "./keys.js";
import type { SegmentFiles } from "./segments.js";

// Replay: follow the chain of records from the checkpoint's start position, apply each group
// of records when its commit record is reached, and stop at the first record that is not the
// next one (wrong sequence, older generation, bad head, failed AEAD of its descriptor or, for
// data, of its blocks). A commit is written and synced together with the records before it, so
// it counts only if every one of them opens. What follows the last commit is dropped.

/** Reads are made in windows of this size, so a tail of small records costs few reads. */
const WINDOW_BYTES = 256 * 1024;

export interface ReplayContext {
  segments: SegmentFiles;
  keys: LogKeys;
  logId: Buffer;
  segmentCount: number;
  segmentBytes: number;
  /** Records of a later generation than this were never written by a session that opened durably. */
  maxGeneration: number;
}

export interface ReplayResult {
  /** Where the next record goes: just after the last commit. */
  head: LogPosition;
  /** Segments the committed chain runs through, from the start position to the head. */
  chain: number[];
  /** Whether any record was applied (so a checkpoint would now differ from the stored one). */
  applied: boolean;
}

type Pending = { type: RecordType.Data; first: number; count: number; segment: number; offset: number; generation: number; seq: number } | { type: RecordType.Zero; first: number; count: number };

class WindowReader {
  private segment = -1;
  private base = 0;
  private data: Buffer = Buffer.alloc(0);

  constructor(
    private readonly segments: SegmentFiles,
    private readonly segmentBytes: number,
  ) {}

  async get(segment: number, offset: number, length: number): Promise<Buffer | undefined> {
    if (segment !== this.segment || offset < this.base || offset + length > this.base + this.data.length) {
      const want = Math.min(Math.max(length, WINDOW_BYTES), this.segmentBytes - offset);
      if (want < length) return undefined;
      this.data = await this.segments.read(segment, offset, want);
      this.segment = segment;
      this.base = offset;
    }
    const out = this.data.subarray(offset - this.base, offset - this.base + length);
    return out.length === length ? out : undefined;
  }
}

export async function replay(ctx: ReplayContext, start: LogPosition, map: ExtentMap): Promise<ReplayResult> {
  const reader = new WindowReader(ctx.segments, ctx.segmentBytes);
  let pos = start;
  let prevGeneration = 0;
  let chain = [start.segment];
  let committed: ReplayResult = { head: start, chain: [...chain], applied: false };
  let pending: Pending[] = [];

  for (;;) {
    const headBytes = await reader.get(pos.segment, pos.offset, RECORD_HEAD_BYTES);
    if (headBytes === undefined) break;
    let head;
    try {
      head = parseRecordHead(headBytes);
    } catch (err) {
      if (err instanceof LayoutError) break;
      throw err;
    }
    if (head.seq !== pos.seq || head.generation < prevGeneration || head.generation > ctx.maxGeneration) break;
    const total = recordBytes(head.type, head.blocks);
    if (pos.offset + total > ctx.segmentBytes) break;
    const sealed = await reader.get(pos.segment, pos.offset + RECORD_HEAD_BYTES, head.sealedDescriptorBytes);
    if (sealed === undefined) break;
    let desc: Buffer;
    try {
      desc = open(ctx.keys.data(head.generation), sealed, recordAad(ctx.logId, pos.segment, pos.offset, headBytes));
    } catch (err) {
      if (err instanceof AeadAuthError) break;
      throw err;
    }
    const next = { segment: pos.segment, offset: pos.offset + total, seq: pos.seq + 1 };
    if (head.type === RecordType.Data) {
      const first = desc.readUInt32LE(0);
      if (first + head.blocks > map.blocks) break;
      const blocksAt = pos.offset + RECORD_HEAD_BYTES + head.sealedDescriptorBytes;
      const data = await reader.get(pos.segment, blocksAt, sealedDataBytes(head.blocks));
      if (data === undefined || !opens(ctx, data, dataAad(ctx.logId, pos.segment, blocksAt, first, head.blocks, head.generation, head.seq), head.generation)) break;
      pending.push({ type: RecordType.Data, first, count: head.blocks, segment: pos.segment, offset: blocksAt, generation: head.generation, seq: head.seq });
    } else if (head.type === RecordType.Zero) {
      const first = desc.readUInt32LE(0);
      const count = desc.readUInt32LE(4);
      if (count === 0 || first + count > map.blocks) break;
      pending.push({ type: RecordType.Zero, first, count });
    } else if (head.type === RecordType.Commit) {
      for (const p of pending) apply(map, p);
      committed = { head: next, chain: [...chain], applied: committed.applied || pending.length > 0 };
      pending = [];
    } else {
      const target = desc.readUInt32LE(0);
      if (target >= ctx.segmentCount || chain.includes(target)) break;
      try {
        await ctx.segments.file(target); // checks its header
      } catch (err) {
        if (err instanceof StickvmError && err.code === "CORRUPT_STICK") break;
        throw err;
      }
      chain = [...chain, target];
      next.segment = target;
      next.offset = SEGMENT_HEADER_BYTES;
    }
    prevGeneration = head.generation;
    pos = next;
  }
  return committed;
}

function opens(ctx: ReplayContext, sealed: Buffer, aad: Buffer, generation: number): boolean {
  try {
    open(ctx.keys.data(generation), sealed, aad);
    return true;
  } catch (err) {
    if (err instanceof AeadAuthError) return false;
    throw err;
  }
}

function apply(map: ExtentMap, p: Pending): void {
  if (p.type === RecordType.Zero) {
    for (let k = 0; k < p.count; k++) map.setZero(p.first + k);
    return;
  }
  for (let k = 0; k < p.count; k++) {
    map.setData(p.first + k, { segment: p.segment, offset: p.offset, index: k, blocks: p.count, generation: p.generation, seq: p.seq });
  }
}
