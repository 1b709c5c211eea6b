import { ChunkDecodeError, openChunk } from "../chunkstore/chunk-codec.js";
import type { WritableChunkStore } from "../chunkstore/chunk-store.js";
import { ChunkInvalidError, ChunkMissingError } from "../errors/errors.js";
import { readEntry, removeEntry, writeEntry, writeFailure } from "./entry-files.js";
import type { HostCache } from "./host-cache.js";

/**
 * The host cache as a ChunkStore (DESIGN section 4): `get` gives an entry only after its seal
 * opened under the base key with its id in the AAD; a missing, truncated or bad entry is
 * removed and reported as ChunkMissingError, so a store behind it is asked instead. `put` is
 * how a chunk fetched in the background (boot prefetch) gets in. Counters and eviction are the
 * HostCache's, shared with the reader threads of the serve path.
 */
export class CacheChunkStore implements WritableChunkStore {
  constructor(
    private readonly cache: HostCache,
    private readonly baseKey: Uint8Array,
    private readonly chunkSize: number,
  ) {}

  has(id: Uint8Array): Promise<boolean> {
    return Promise.resolve(this.cache.holds(id));
  }

  get(id: Uint8Array): Promise<Buffer> {
    return Promise.resolve().then(() => {
      const h = Buffer.from(id).toString("hex");
      if (!this.cache.holds(id)) throw new ChunkMissingError(h);
      let sealed: Buffer | undefined;
      let why = "it is missing";
      try {
        sealed = readEntry(this.cache.dir, id);
        if (sealed !== undefined) {
          openChunk(this.baseKey, id, sealed, this.chunkSize);
          this.cache.noteHit(h, sealed.length);
          return sealed;
        }
      } catch (err) {
        why = err instanceof ChunkDecodeError ? err.message : `it could not be read: ${(err as Error).message}`;
      }
      removeEntry(this.cache.dir, id);
      this.cache.noteBad(h, why);
      throw new ChunkMissingError(h);
    });
  }

  /** Stores a chunk read from the stick; nothing happens while the cache is off. */
  put(id: Uint8Array, sealed: Buffer): Promise<void> {
    return Promise.resolve().then(() => {
      const h = Buffer.from(id).toString("hex");
      try {
        openChunk(this.baseKey, id, sealed, this.chunkSize);
      } catch (err) {
        if (err instanceof ChunkDecodeError) throw new ChunkInvalidError(h, "the chunk given to the host cache", err.message);
        throw err;
      }
      this.cache.noteStickRead(sealed.length);
      if (!this.cache.isOn) return;
      try {
        writeEntry(this.cache.dir, id, sealed);
      } catch (err) {
        this.cache.noteStoreFailed(writeFailure(err));
        return;
      }
      this.cache.noteStored(h, sealed.length);
    });
  }

  close(): Promise<void> {
    return this.cache.close();
  }
}
