/**
 * A content-addressed store of sealed chunks (DESIGN section 4). `get` returns the chunk
 * exactly as stored (still encrypted); decoding and checking happen above it.
 * Errors: ChunkMissingError when the id is not held, ChunkInvalidError when its bytes are bad.
 * Writable stores (the host cache; later an update's packs) add `put`.
 */
export interface ChunkStore {
  get(id: Uint8Array): Promise<Buffer>;
  has(id: Uint8Array): Promise<boolean>;
  close(): Promise<void>;
}

/** A store that takes chunks: `put` stores a sealed chunk under its id (rejecting one whose seal does not open). */
export interface WritableChunkStore extends ChunkStore {
  put(id: Uint8Array, sealed: Buffer): Promise<void>;
}
