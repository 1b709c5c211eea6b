import type { ChunkIndex, ChunkLocation } from "../../stick-layout/chunk-index.js";
import { ChunkMissingError } from "../errors/errors.js";
import type { ChunkStore } from "./chunk-store.js";
import { PackReader } from "./pack-reader.js";

/**
 * The chunks of a stick: pack files looked up through the chunk index. Read-only. Reads block
 * the calling thread (a pack record is one read); serving goes through the ChunkReaderPool's
 * threads instead, and this store serves the command line tools and their checks.
 */
export class PackChunkStore implements ChunkStore {
  private readonly reader: PackReader;

  constructor(
    readonly stickDir: string,
    private readonly index: ChunkIndex,
    readonly chunkSize: number,
  ) {
    this.reader = new PackReader(stickDir, chunkSize);
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
  readAt(id: Uint8Array, loc: ChunkLocation): Promise<Buffer> {
    return Promise.resolve().then(() => this.reader.readRecord(id, loc));
  }

  close(): Promise<void> {
    this.reader.close();
    return Promise.resolve();
  }
}
