import { AeadAuthError, open } from "../../crypto/aead.js";
import type { BlockDevice } from "../block-device.js";
import type { AppendBuffer } from "./append-buffer.js";
import { UNMAPPED, type BlockLocation, type ExtentMap } from "./extent-map.js";
import { BLOCK_BYTES, SEALED_BLOCK_BYTES, blockAad } from "./format.js";
import type { LogKeys } from "./keys.js";
import { LogRecordError } from "./log-errors.js";
import type { SegmentFiles } from "./segments.js";

// Reads whole blocks: from the lower device (never written), zeros, or sealed blocks in the
// segments (one read per run stored back to back), each opened and checked on its own.

export interface BlockSources {
  size: number;
  map: ExtentMap;
  keys: LogKeys;
  logId: Buffer;
  segments: SegmentFiles;
  pending: AppendBuffer;
  lower: BlockDevice | undefined;
}

export class BlockReader {
  constructor(private readonly d: BlockSources) {}

  /** Whole blocks [first, first + count) as plaintext. */
  async readBlocks(first: number, count: number): Promise<Buffer> {
    const out = Buffer.alloc(count * BLOCK_BYTES);
    const jobs: Promise<void>[] = [];
    let lowerStart = -1;
    const endLower = (b: number): void => {
      if (lowerStart >= 0) jobs.push(this.readLower(lowerStart, b - lowerStart, out, (lowerStart - first) * BLOCK_BYTES));
      lowerStart = -1;
    };
    let group: { block: number; loc: BlockLocation }[] = [];
    const endGroup = (): void => {
      if (group.length > 0) jobs.push(this.readGroup(group, out, first));
      group = [];
    };
    for (let b = first; b < first + count; b++) {
      const st = this.d.map.get(b);
      if (st === UNMAPPED && this.d.lower !== undefined) {
        endGroup();
        if (lowerStart < 0) lowerStart = b;
        continue;
      }
      endLower(b);
      if (typeof st !== "object") {
        endGroup();
        continue;
      }
      const prev = group[group.length - 1];
      if (prev !== undefined && (prev.loc.segment !== st.segment || prev.loc.offset + SEALED_BLOCK_BYTES !== st.offset)) endGroup();
      group.push({ block: b, loc: st });
    }
    endLower(first + count);
    endGroup();
    await Promise.all(jobs);
    return out;
  }

  private async readLower(first: number, count: number, out: Buffer, at: number): Promise<void> {
    const lower = this.d.lower;
    if (lower === undefined) return;
    const start = first * BLOCK_BYTES;
    const end = Math.min(lower.size, this.d.size, (first + count) * BLOCK_BYTES);
    if (end > start) (await lower.read(start, end - start)).copy(out, at);
  }

  /** Blocks stored back to back in one segment: one read, then each block opened on its own. */
  private async readGroup(group: { block: number; loc: BlockLocation }[], out: Buffer, first: number): Promise<void> {
    const head = group[0];
    if (head === undefined) return;
    const sealed = await this.fetch(head.loc.segment, head.loc.offset, group.length * SEALED_BLOCK_BYTES);
    for (let i = 0; i < group.length; i++) {
      const g = group[i];
      if (g === undefined) continue;
      const one = sealed.subarray(i * SEALED_BLOCK_BYTES, (i + 1) * SEALED_BLOCK_BYTES);
      (await this.openBlock(g.block, g.loc, one)).copy(out, (g.block - first) * BLOCK_BYTES);
    }
  }

  private async openBlock(block: number, loc: BlockLocation, sealed: Buffer): Promise<Buffer> {
    for (let attempt = 0; ; attempt++) {
      try {
        return open(this.d.keys.data(loc.generation), sealed, blockAad(this.d.logId, loc.segment, loc.offset, block, loc.generation, loc.seq));
      } catch (err) {
        if (!(err instanceof AeadAuthError)) throw err;
      }
      // The block may have moved (compaction) and its old place been reused while this read was in flight.
      const now = this.d.map.get(block);
      if (typeof now !== "object") return Buffer.alloc(BLOCK_BYTES); // zeroed meanwhile
      const moved = now.segment !== loc.segment || now.offset !== loc.offset || now.seq !== loc.seq;
      if (!moved || attempt >= 3) throw new LogRecordError(`${this.d.segments.path(loc.segment)} offset ${loc.offset}`, `block ${block} fails authentication`);
      loc = now;
      sealed = await this.fetch(loc.segment, loc.offset, SEALED_BLOCK_BYTES);
    }
  }

  /** Bytes of a segment, newest first: the append buffer, then the file. */
  private fetch(segment: number, offset: number, length: number): Promise<Buffer> {
    return this.d.pending.read(segment, offset, length, async () => {
      const got = await this.d.segments.read(segment, offset, length);
      if (got.length !== length) throw new LogRecordError(`${this.d.segments.path(segment)} offset ${offset}`, "the segment file is truncated");
      return got;
    });
  }
}
