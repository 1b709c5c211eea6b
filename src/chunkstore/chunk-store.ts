/**
 * A content-addressed store of sealed chunks (DESIGN section 4). `get` returns the chunk
 * exactly as stored (still encrypted); decoding and checking happen above it.
 * Errors: ChunkMissingError when the id is not held, ChunkInvalidError when its bytes are bad.
 * Writable stores (the host cache, an update's packs) will add `put(id, sealed)`.
 */
export interface ChunkStore {
  get(id: Uint8Array): Promise<Buffer>;
  has(id: Uint8Array): Promise<boolean>;
  close(): Promise<void>;
}
