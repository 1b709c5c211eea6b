import { open, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import type { ChunkIndex, ChunkLocation } from "../../stick-layout/chunk-index.js";
import { packFileName } from "../../stick-layout/format.js";
import { parseRecord } from "../../stick-layout/pack.js";
import { ChunkInvalidError, ChunkMissingError, fileError } from "../errors/errors.js";
import { LayoutError } from "../util/bytes.js";
import type { ChunkStore } from "./chunk-store.js";

export function describeLocation(loc: ChunkLocation): string {
  return `${packFileName(loc.pack)} offset ${loc.offset}`;
}

/** The chunks of a stick: pack files looked up through the chunk index. Read-only. */
export class PackChunkStore implements ChunkStore {
  private readonly handles = new Map<number, Promise<FileHandle>>();

  constructor(
    private readonly stickDir: string,
    private readonly index: ChunkIndex,
  ) {}

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
      const path = join(this.stickDir, packFileName(pack));
      h = open(path, "r").catch((err: unknown) => {
        this.handles.delete(pack);
        throw fileError(err, "open pack", path);
      });
      this.handles.set(pack, h);
    }
    return h;
  }

  async close(): Promise<void> {
    const all = [...this.handles.values()];
    this.handles.clear();
    await Promise.all(all.map(async (h) => (await h.catch(() => undefined))?.close()));
  }
}
