import { deflateRawSync, inflateRawSync } from "node:zlib";
import { AeadAuthError, open, seal } from "../crypto/aead.js";
import { equalBytes, hmacSha256 } from "../crypto/hash.js";

// Chunk encoding (FORMAT.md "Chunks"): plaintext → id = HMAC(chunk id key, plaintext);
// payload = encoding byte || (deflate-raw(plaintext) or plaintext); sealed = AEAD(base key, payload, aad).
export const ChunkEncoding = { stored: 0, deflateRaw: 1 } as const;
const AAD_PREFIX = Buffer.from("stickvm chunk v1\0", "utf8");

export function chunkAad(id: Uint8Array): Buffer {
  return Buffer.concat([AAD_PREFIX, id]);
}

export function chunkId(chunkIdKey: Uint8Array, plaintext: Uint8Array): Buffer {
  return hmacSha256(chunkIdKey, plaintext);
}

/** Compresses when that saves at least 1/16 of the chunk; otherwise stores it as it is. */
export function encodeChunk(baseKey: Uint8Array, id: Uint8Array, plaintext: Buffer, level: number): Buffer {
  const packed = deflateRawSync(plaintext, { level });
  const worthIt = packed.length <= plaintext.length - (plaintext.length >>> 4);
  const payload = worthIt
    ? Buffer.concat([Buffer.of(ChunkEncoding.deflateRaw), packed])
    : Buffer.concat([Buffer.of(ChunkEncoding.stored), plaintext]);
  return seal(baseKey, payload, chunkAad(id));
}

export class ChunkDecodeError extends Error {}

/**
 * Decoding step 1 alone: decrypts, which checks the tag (and so that the record belongs to `id`);
 * what storing a chunk fetched ahead of need takes, without paying for inflating it.
 */
export function openChunkPayload(baseKey: Uint8Array, id: Uint8Array, sealed: Uint8Array): Buffer {
  try {
    return open(baseKey, sealed, chunkAad(id));
  } catch (err) {
    if (err instanceof AeadAuthError) throw new ChunkDecodeError("it does not decrypt under the base key (tampered, damaged or misplaced)");
    throw err;
  }
}

/**
 * Decrypts and decompresses (decoding steps 1 to 3); throws ChunkDecodeError saying which step
 * failed. The tag check binds the id, so this is what serving a chunk needs (FORMAT.md §10).
 */
export function openChunk(baseKey: Uint8Array, id: Uint8Array, sealed: Uint8Array, chunkSize: number): Buffer {
  const payload = openChunkPayload(baseKey, id, sealed);
  const encoding = payload[0];
  const body = payload.subarray(1);
  let plain: Buffer;
  if (encoding === ChunkEncoding.stored) {
    plain = body;
  } else if (encoding === ChunkEncoding.deflateRaw) {
    try {
      // one output buffer of the chunk's size: no pieces to join
      plain = inflateRawSync(body, { maxOutputLength: chunkSize, chunkSize });
    } catch {
      throw new ChunkDecodeError("its compressed data does not inflate");
    }
  } else {
    throw new ChunkDecodeError(`unknown encoding ${String(encoding)}`);
  }
  if (plain.length !== chunkSize) throw new ChunkDecodeError(`it holds ${plain.length} bytes, not ${chunkSize}`);
  return plain;
}

/** Every decoding step, the id check (step 4) included: what `make-stick verify` does. */
export function decodeChunk(
  keys: { baseKey: Uint8Array; chunkIdKey: Uint8Array },
  id: Uint8Array,
  sealed: Uint8Array,
  chunkSize: number,
): Buffer {
  const plain = openChunk(keys.baseKey, id, sealed, chunkSize);
  if (!equalBytes(chunkId(keys.chunkIdKey, plain), id)) throw new ChunkDecodeError("its content does not hash to its id");
  return plain;
}
