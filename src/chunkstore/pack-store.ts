import { open, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import type { ChunkIndex, ChunkLocation } from "../../stick-layout/chunk-index.js";
import { packFileName } from "../../stick-layout/format.js";
import { PACK_HEADER_BYTES, parsePackHeader, parseRecord, RECORD_HEAD_BYTES } from "../../stick-layout/pack.js";
import { AEAD_OVERHEAD } from "../crypto/aead.js";
import { ChunkInvalidError, ChunkMissingError, CorruptStickError, fileError } from "../errors/errors.js";
import { LayoutError } from "../util/bytes.js";
import type { ChunkStore } from "./chunk-store.js";

export function describeLocation(loc: ChunkLocation): string {
  return `${packFileName(loc.pack)} offset ${loc.offset}`;
}

/** The longest record a chunk of this size can have: head, encoding byte, the chunk stored raw, AEAD overhead. */
export function maxRecordLength(chunkSize: number): number {
  return RECORD_HEAD_BYTES + AEAD_OVERHEAD + 1 + chunkSize;
}

/** The chunks of a stick: pack files looked up through the chunk index. Read-only. */
export class PackChunkStore implements ChunkStore {
  private readonly handles = new Map<number, Promise<FileHandle>>();
  private readonly maxRecord: number;

  constructor(
    private readonly stickDir: string,
    private readonly index: ChunkIndex,
    chunkSize: number,
  ) {
    this.maxRecord = maxRecordLength(chunkSize);
  }

  locate(id: Uint8Array): ChunkLocation | undefined {
    return this.index.find(id);
  }

  has(id: Uint8Array): Promise<boolean> {
    return Promise.resolve(this.index.find(id) !== undefined);
  }

  async get(id: Uint8Array): Promise<Buffer> {
    const loc = this.index.find(id);
    if (loc === undefined) throw new ChunkMissingError(Buffer.from(id).toString("hex"));
    return this.readAt(id, loc);
  }

  /** Reads the record at a location and checks that it is the chunk the caller expects. */
  async readAt(id: Uint8Array, loc: ChunkLocation): Promise<Buffer> {
    const idHex = Buffer.from(id).toString("hex");
    // the index is not authenticated: never trust its length enough to allocate more than a chunk
    if (loc.length > this.maxRecord) throw new ChunkInvalidError(idHex, describeLocation(loc), `the index gives it ${loc.length} bytes, more than a chunk can take`);
    const fh = await this.handle(loc.pack);
    const buf = Buffer.alloc(loc.length);
    let got: number;
    try {
      got = (await fh.read(buf, 0, loc.length, loc.offset)).bytesRead;
    } catch (err) {
      throw fileError(err, "read", join(this.stickDir, packFileName(loc.pack)));
    }
    if (got < loc.length) throw new ChunkInvalidError(idHex, describeLocation(loc), "the pack file is truncated");
    let record;
    try {
      record = parseRecord(buf);
    } catch (err) {
      if (err instanceof LayoutError) throw new ChunkInvalidError(idHex, describeLocation(loc), err.message);
      throw err;
    }
    if (!record.id.equals(id)) throw new ChunkInvalidError(idHex, describeLocation(loc), "the record there holds another chunk");
    return record.sealed;
  }

  private handle(pack: number): Promise<FileHandle> {
    let h = this.handles.get(pack);
    if (h === undefined) {
      // a damaged or missing pack stays failed; any other error (EMFILE, EIO) is tried again next time
      h = this.openPack(pack).catch((err: unknown) => {
        if (!(err instanceof CorruptStickError)) this.handles.delete(pack);
        throw err;
      });
      this.handles.set(pack, h);
    }
    return h;
  }

  /** Opens a pack and checks its header: the right magic, version and number. */
  private async openPack(pack: number): Promise<FileHandle> {
    const name = packFileName(pack);
    const path = join(this.stickDir, name);
    let fh: FileHandle;
    try {
      fh = await open(path, "r");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new CorruptStickError(`${name} is missing`);
      throw fileError(err, "open pack", path);
    }
    try {
      const head = Buffer.alloc(PACK_HEADER_BYTES);
      const { bytesRead } = await fh.read(head, 0, PACK_HEADER_BYTES, 0);
      const number = parsePackHeader(head.subarray(0, bytesRead));
      if (number !== pack) throw new LayoutError(`it says it is pack ${number}`);
      return fh;
    } catch (err) {
      await fh.close();
      if (err instanceof LayoutError) throw new CorruptStickError(`${name} has a bad header: ${err.message}`);
      throw fileError(err, "read", path);
    }
  }

  async close(): Promise<void> {
    const all = [...this.handles.values()];
    this.handles.clear();
    await Promise.all(all.map(async (h) => (await h.catch(() => undefined))?.close()));
  }
}
