import { closeSync, openSync, readSync } from "node:fs";
import { join } from "node:path";
import type { ChunkLocation } from "../../stick-layout/chunk-index.js";
import { packFileName } from "../../stick-layout/format.js";
import { PACK_HEADER_BYTES, parsePackHeader, parseRecord, RECORD_HEAD_BYTES } from "../../stick-layout/pack.js";
import { AEAD_OVERHEAD } from "../crypto/aead.js";
import { ChunkInvalidError, CorruptStickError, fileError } from "../errors/errors.js";
import { LayoutError } from "../util/bytes.js";

function hex(id: Uint8Array): string {
  return Buffer.from(id).toString("hex");
}

export function describeLocation(loc: ChunkLocation): string {
  return `${packFileName(loc.pack)} offset ${loc.offset}`;
}

/** The longest record a chunk of this size can have: head, encoding byte, the chunk stored raw, AEAD overhead. */
export function maxRecordLength(chunkSize: number): number {
  return RECORD_HEAD_BYTES + AEAD_OVERHEAD + 1 + chunkSize;
}

/**
 * Reads pack records with blocking calls: made for a worker thread (or a command line tool)
 * whose only job is reading chunks. Pack files are opened on first use and their header
 * checked; a pack that fails to open is tried again next time (it may be a passing EMFILE).
 */
export class PackReader {
  private readonly fds = new Map<number, number>();
  private readonly maxRecord: number;

  constructor(
    private readonly stickDir: string,
    chunkSize: number,
  ) {
    this.maxRecord = maxRecordLength(chunkSize);
  }

  /**
   * The sealed chunk at `loc`, checked to be the record of `id`. The record is read into memory
   * of its own, so the result may be transferred to another thread.
   */
  readRecord(id: Uint8Array, loc: ChunkLocation): Buffer {
    this.checkLength(id, loc);
    return this.recordIn(id, loc, this.readSpan(loc.pack, loc.offset, loc.length));
  }

  /** Refuses a length from the index that no record can have. */
  checkLength(id: Uint8Array, loc: ChunkLocation): void {
    // the index is not authenticated: never trust its length enough to allocate more than a chunk
    if (loc.length > this.maxRecord) throw new ChunkInvalidError(hex(id), describeLocation(loc), `the index gives it ${loc.length} bytes, more than a chunk can take`);
  }

  /** One read of up to `length` bytes of a pack at `offset`, into memory of its own (shorter at the file's end). */
  readSpan(pack: number, offset: number, length: number): Buffer {
    const fd = this.fd(pack);
    const buf = Buffer.from(new ArrayBuffer(length));
    try {
      return buf.subarray(0, readSync(fd, buf, 0, length, offset));
    } catch (err) {
      throw fileError(err, "read", join(this.stickDir, packFileName(pack)));
    }
  }

  /** The sealed chunk of `id` at the start of `bytes`, which were read from `loc`. */
  recordIn(id: Uint8Array, loc: ChunkLocation, bytes: Buffer): Buffer {
    if (bytes.length < loc.length) throw new ChunkInvalidError(hex(id), describeLocation(loc), "the pack file is truncated");
    let record;
    try {
      record = parseRecord(bytes.subarray(0, loc.length));
    } catch (err) {
      if (err instanceof LayoutError) throw new ChunkInvalidError(hex(id), describeLocation(loc), err.message);
      throw err;
    }
    if (!record.id.equals(id)) throw new ChunkInvalidError(hex(id), describeLocation(loc), "the record there holds another chunk");
    return record.sealed;
  }

  private fd(pack: number): number {
    const open = this.fds.get(pack);
    if (open !== undefined) return open;
    const fd = this.openPack(pack);
    this.fds.set(pack, fd);
    return fd;
  }

  /** Opens a pack and checks its header: the right magic, version and number. */
  private openPack(pack: number): number {
    const name = packFileName(pack);
    const path = join(this.stickDir, name);
    let fd: number;
    try {
      fd = openSync(path, "r");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new CorruptStickError(`${name} is missing`);
      throw fileError(err, "open pack", path);
    }
    try {
      const head = Buffer.alloc(PACK_HEADER_BYTES);
      const got = readSync(fd, head, 0, PACK_HEADER_BYTES, 0);
      const number = parsePackHeader(head.subarray(0, got));
      if (number !== pack) throw new LayoutError(`it says it is pack ${number}`);
      return fd;
    } catch (err) {
      closeSync(fd);
      if (err instanceof LayoutError) throw new CorruptStickError(`${name} has a bad header: ${err.message}`);
      throw fileError(err, "read", path);
    }
  }

  close(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }
}
