import type { ChunkStore, WritableChunkStore } from "../chunkstore/chunk-store.js";
import { ChunkMissingError } from "../errors/errors.js";

/**
 * A cache in front of a store, as desync composes them: `get` asks the cache, and on a miss
 * (ChunkMissingError only: a bad entry is reported as one) reads the store behind and puts
 * the chunk into the cache. Other errors of the cache are not hidden.
 */
export class ComposedChunkStore implements ChunkStore {
  constructor(
    private readonly cache: WritableChunkStore,
    private readonly behind: ChunkStore,
  ) {}

  async has(id: Uint8Array): Promise<boolean> {
    return (await this.cache.has(id)) || this.behind.has(id);
  }

  async get(id: Uint8Array): Promise<Buffer> {
    try {
      return await this.cache.get(id);
    } catch (err) {
      if (!(err instanceof ChunkMissingError)) throw err;
    }
    const sealed = await this.behind.get(id);
    await this.cache.put(id, sealed);
    return sealed;
  }

  async close(): Promise<void> {
    await this.cache.close();
    await this.behind.close();
  }
}
