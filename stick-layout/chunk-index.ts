import { sha256 } from "../src/crypto/hash.js";
import { ByteReader, ByteWriter, LayoutError } from "../src/util/bytes.js";
import { CHUNK_ID_BYTES, DIGEST_BYTES } from "./format.js";
import { PACK_HEADER_BYTES, RECORD_HEAD_BYTES } from "./pack.js";

// The chunk index (FORMAT.md "Chunk index"): entries sorted by id, binary-searched in place.
export const INDEX_MAGIC = Buffer.from("SVMINDX\0", "latin1");
export const INDEX_VERSION = 1;
export const INDEX_HEAD_BYTES = 24;
export const INDEX_ENTRY_BYTES = CHUNK_ID_BYTES + 4 + 8 + 4;

export interface ChunkLocation {
  pack: number;
  /** Byte offset of the record (its head) in the pack file. */
  offset: number;
  /** Record length: head plus sealed chunk. */
  length: number;
}

export interface IndexEntry extends ChunkLocation {
  id: Buffer;
}

/**
 * Collects index entries as packed 48-byte rows (no object per chunk, so a build's memory
 * stays small however many chunks it writes) and encodes them sorted by id.
 */
export class IndexBuilder {
  private rows = Buffer.alloc(INDEX_ENTRY_BYTES * 1024);
  private count = 0;

  get length(): number {
    return this.count;
  }

  add(e: IndexEntry): number {
    if ((this.count + 1) * INDEX_ENTRY_BYTES > this.rows.length) {
      // grow by half: a build's index rows are its largest per-chunk memory
      const bigger = Buffer.alloc(Math.ceil((this.rows.length * 1.5) / INDEX_ENTRY_BYTES) * INDEX_ENTRY_BYTES);
      this.rows.copy(bigger);
      this.rows = bigger;
    }
    const at = this.count * INDEX_ENTRY_BYTES;
    this.rows.set(e.id, at);
    this.rows.writeUInt32LE(e.pack, at + 32);
    this.rows.writeBigUInt64LE(BigInt(e.offset), at + 36);
    this.rows.writeUInt32LE(e.length, at + 44);
    return this.count++;
  }

  idAt(row: number): Buffer {
    const at = row * INDEX_ENTRY_BYTES;
    return this.rows.subarray(at, at + CHUNK_ID_BYTES);
  }

  locationAt(row: number): ChunkLocation {
    const at = row * INDEX_ENTRY_BYTES;
    return { pack: this.rows.readUInt32LE(at + 32), offset: Number(this.rows.readBigUInt64LE(at + 36)), length: this.rows.readUInt32LE(at + 44) };
  }

  encode(packCount: number): Buffer {
    const order = Array.from({ length: this.count }, (_, i) => i).sort((a, b) => Buffer.compare(this.idAt(a), this.idAt(b)));
    const head = new ByteWriter().bytes(INDEX_MAGIC).u16(INDEX_VERSION).zeros(2).u32(this.count).u32(packCount).zeros(4).finish();
    const body = Buffer.alloc(this.count * INDEX_ENTRY_BYTES);
    order.forEach((row, i) => this.rows.copy(body, i * INDEX_ENTRY_BYTES, row * INDEX_ENTRY_BYTES, (row + 1) * INDEX_ENTRY_BYTES));
    return Buffer.concat([head, body, sha256(head, body)]);
  }
}

/** The index held as its file bytes: a million entries cost 48 MB and no per-entry objects. */
export class ChunkIndex {
  private constructor(
    private readonly table: Buffer,
    readonly count: number,
    readonly packCount: number,
  ) {}

  static parse(buf: Buffer): ChunkIndex {
    const r = new ByteReader(buf, "chunk index");
    r.expect(INDEX_MAGIC);
    const version = r.u16();
    if (version !== INDEX_VERSION) throw new LayoutError(`chunk index: version ${version} is not supported`);
    r.zeros(2);
    const count = r.u32();
    const packCount = r.u32();
    r.zeros(4);
    if (r.remaining !== count * INDEX_ENTRY_BYTES + DIGEST_BYTES) {
      throw new LayoutError(`chunk index is ${buf.length} bytes, expected ${INDEX_HEAD_BYTES + count * INDEX_ENTRY_BYTES + DIGEST_BYTES}`);
    }
    if (!sha256(buf.subarray(0, buf.length - DIGEST_BYTES)).equals(buf.subarray(buf.length - DIGEST_BYTES))) {
      throw new LayoutError("chunk index: checksum mismatch");
    }
    const index = new ChunkIndex(buf.subarray(INDEX_HEAD_BYTES, buf.length - DIGEST_BYTES), count, packCount);
    for (let i = 0; i < count; i++) {
      const e = index.entryAt(i);
      if (i > 0 && Buffer.compare(index.idAt(i - 1), e.id) >= 0) throw new LayoutError("chunk index: entries are not sorted by id");
      if (e.pack >= packCount || e.offset < PACK_HEADER_BYTES || !Number.isSafeInteger(e.offset) || e.length <= RECORD_HEAD_BYTES) {
        throw new LayoutError(`chunk index: entry ${i} points outside the packs`);
      }
    }
    return index;
  }

  private idAt(i: number): Buffer {
    const at = i * INDEX_ENTRY_BYTES;
    return this.table.subarray(at, at + CHUNK_ID_BYTES);
  }

  entryAt(i: number): IndexEntry {
    const at = i * INDEX_ENTRY_BYTES;
    return {
      id: this.idAt(i),
      pack: this.table.readUInt32LE(at + 32),
      offset: Number(this.table.readBigUInt64LE(at + 36)),
      length: this.table.readUInt32LE(at + 44),
    };
  }

  find(id: Uint8Array): ChunkLocation | undefined {
    let lo = 0;
    let hi = this.count - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const c = Buffer.compare(this.idAt(mid), id);
      if (c === 0) return this.entryAt(mid);
      if (c < 0) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }

  *entries(): Generator<IndexEntry> {
    for (let i = 0; i < this.count; i++) yield this.entryAt(i);
  }
}
