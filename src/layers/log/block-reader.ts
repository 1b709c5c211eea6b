import { AeadAuthError, open } from "../../crypto/aead.js";
import type { BlockDevice } from "../block-device.js";
import type { AppendBuffer } from "./append-buffer.js";
import { UNMAPPED, type BlockLocation, type ExtentMap } from "./extent-map.js";
import { BLOCK_BYTES, dataAad, sealedDataBytes } from "./format.js";
import type { LogKeys } from "./keys.js";
import { LogRecordError } from "./log-errors.js";
import type { SegmentFiles } from "./segments.js";

// Reads whole blocks: from the lower device (never written), zeros, or data records in the
// segments (one read and one open per record a read touches).

export interface BlockSources {
  size: number;
  map: ExtentMap;
  keys: LogKeys;
  logId: Buffer;
  segments: SegmentFiles;
  pending: AppendBuffer;
  lower: BlockDevice | undefined;
}

/** Reads retried after a block moved under them (compaction reused its old place) before giving up. */
const MAX_MOVED_RETRIES = 3;

export class BlockReader {
  constructor(private readonly d: BlockSources) {}

  /** Whole blocks [first, first + count) as plaintext. */
  async readBlocks(first: number, count: number): Promise<Buffer> {
    const out = Buffer.alloc(count * BLOCK_BYTES);
    await this.readInto(first, count, out, 0);
    return out;
  }

  private async readInto(first: number, count: number, out: Buffer, attempt: number): Promise<void> {
    const jobs: Promise<void>[] = [];
    let lowerStart = -1;
    const endLower = (b: number): void => {
      if (lowerStart >= 0) jobs.push(this.readLower(lowerStart, b - lowerStart, out, (lowerStart - first) * BLOCK_BYTES));
      lowerStart = -1;
    };
    let group: { first: number; count: number; loc: BlockLocation } | undefined;
    const endGroup = (): void => {
      if (group !== undefined) jobs.push(this.readRecord(group.first, group.count, group.loc, out, (group.first - first) * BLOCK_BYTES, attempt));
      group = undefined;
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
      const g = group;
      if (g !== undefined && g.loc.segment === st.segment && g.loc.offset === st.offset && g.loc.seq === st.seq && g.loc.index + g.count === st.index) {
        g.count++;
        continue;
      }
      endGroup();
      group = { first: b, count: 1, loc: st };
    }
    endLower(first + count);
    endGroup();
    await Promise.all(jobs);
  }

  private async readLower(first: number, count: number, out: Buffer, at: number): Promise<void> {
    const lower = this.d.lower;
    if (lower === undefined) return;
    const start = first * BLOCK_BYTES;
    const end = Math.min(lower.size, this.d.size, (first + count) * BLOCK_BYTES);
    if (end > start) (await lower.read(start, end - start)).copy(out, at);
  }

  /** `count` blocks of one data record, from `first` (its block number `loc.index`): one read, one open. */
  private async readRecord(first: number, count: number, loc: BlockLocation, out: Buffer, at: number, attempt: number): Promise<void> {
    const sealed = await this.fetch(loc.segment, loc.offset, sealedDataBytes(loc.blocks));
    let plain: Buffer;
    try {
      const recordFirst = first - loc.index;
      plain = open(this.d.keys.data(loc.generation), sealed, dataAad(this.d.logId, loc.segment, loc.offset, recordFirst, loc.blocks, loc.generation, loc.seq));
    } catch (err) {
      if (!(err instanceof AeadAuthError)) throw err;
      // The blocks may have moved (compaction) and their old place been reused while this read was in flight.
      if (!this.moved(first, count, loc) || attempt >= MAX_MOVED_RETRIES) {
        throw new LogRecordError(`${this.d.segments.path(loc.segment)} offset ${loc.offset}`, `the record holding block ${first} fails authentication`);
      }
      const part = out.subarray(at, at + count * BLOCK_BYTES);
      part.fill(0);
      await this.readInto(first, count, part, attempt + 1);
      return;
    }
    plain.copy(out, at, loc.index * BLOCK_BYTES, (loc.index + count) * BLOCK_BYTES);
  }

  private moved(first: number, count: number, loc: BlockLocation): boolean {
    for (let b = first; b < first + count; b++) {
      const now = this.d.map.get(b);
      if (typeof now !== "object" || now.segment !== loc.segment || now.offset !== loc.offset || now.seq !== loc.seq) return true;
    }
    return false;
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
