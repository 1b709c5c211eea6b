import { AEAD_OVERHEAD, AeadAuthError, open, seal } from "../src/crypto/aead.js";
import { hkdf32 } from "../src/crypto/kdf.js";
import { ByteReader, ByteWriter, LayoutError } from "../src/util/bytes.js";
import { CHUNK_ID_BYTES, STICK_ID_BYTES } from "./format.js";

// The boot profile (FORMAT.md §25): the chunks a session read first, in that order, sealed
// under a key of the stick's user key, in two slots written in turn.
export const BOOT_PROFILE_MAGIC = Buffer.from("SVMPROF\0", "latin1");
export const BOOT_PROFILE_VERSION = 1;
const HEAD_BYTES = 40;
const BODY_HEAD_BYTES = 24;

/** 2 MiB of ids: 4 GiB of boot reads in 64 KiB chunks, far past any boot, and a bound on what a reader loads. */
export const MAX_PROFILE_CHUNKS = 65536;

export interface BootProfile {
  /** One more on every write; the slot is sequence mod 2. */
  sequence: number;
  /** The base version the session that recorded it served. */
  baseVersion: number;
  recordedMs: number;
  /** How long the recording ran. */
  durationMs: number;
  /** Chunk ids, 32 bytes each, in the order the session first asked for them. */
  ids: Buffer;
}

export function bootProfileKey(userKey: Uint8Array, stickId: Uint8Array): Buffer {
  return hkdf32(userKey, stickId, "stickvm boot profile v1");
}

export function profileChunkCount(p: BootProfile): number {
  return p.ids.length / CHUNK_ID_BYTES;
}

function head(slot: number, sequence: number, stickId: Uint8Array, sealedLength: number): Buffer {
  return new ByteWriter().bytes(BOOT_PROFILE_MAGIC).u16(BOOT_PROFILE_VERSION).u8(slot).zeros(1).u32(sequence).bytes(stickId).u32(sealedLength).zeros(4).finish();
}

/** The bytes of slot `sequence mod 2`'s file. */
export function encodeBootProfile(key: Uint8Array, stickId: Uint8Array, p: BootProfile): Buffer {
  const count = profileChunkCount(p);
  if (!Number.isInteger(count) || count > MAX_PROFILE_CHUNKS) throw new Error(`a boot profile holds whole ids, at most ${MAX_PROFILE_CHUNKS}`);
  const body = new ByteWriter().u32(p.baseVersion).u32(count).u64(p.recordedMs).u64(p.durationMs).bytes(p.ids).finish();
  const h = head(p.sequence % 2, p.sequence, stickId, body.length + AEAD_OVERHEAD);
  return Buffer.concat([h, seal(key, body, h)]);
}

/**
 * Parses and opens one slot's file; throws LayoutError saying what is wrong (another stick's
 * profile, a slot in the wrong file, a torn write, a wrong key).
 */
export function parseBootProfile(key: Uint8Array, stickId: Uint8Array, slot: number, bytes: Buffer): BootProfile {
  const r = new ByteReader(bytes, `boot profile slot ${slot}`);
  r.expect(BOOT_PROFILE_MAGIC);
  const version = r.u16();
  if (version !== BOOT_PROFILE_VERSION) throw new LayoutError(`boot profile version ${version} is not supported`);
  if (r.u8() !== slot) throw new LayoutError(`boot profile slot ${slot} holds the other slot's profile`);
  r.zeros(1);
  const sequence = r.u32();
  if (!r.bytes(STICK_ID_BYTES).equals(Buffer.from(stickId))) throw new LayoutError(`boot profile slot ${slot} belongs to another stick`);
  if (sequence % 2 !== slot) throw new LayoutError(`boot profile slot ${slot} has sequence ${sequence}, which belongs in the other slot`);
  const sealedLength = r.u32();
  r.zeros(4);
  if (sealedLength !== r.remaining) throw new LayoutError(`boot profile slot ${slot} is ${bytes.length} bytes, its head says ${HEAD_BYTES + sealedLength} (a write was cut short)`);
  let body: Buffer;
  try {
    body = open(key, bytes.subarray(HEAD_BYTES), bytes.subarray(0, HEAD_BYTES));
  } catch (err) {
    if (err instanceof AeadAuthError) throw new LayoutError(`boot profile slot ${slot} does not open with this stick's key (damaged)`);
    throw err;
  }
  const b = new ByteReader(body, `boot profile slot ${slot}`);
  const baseVersion = b.u32();
  const count = b.u32();
  const recordedMs = b.u64();
  const durationMs = b.u64();
  if (count > MAX_PROFILE_CHUNKS) throw new LayoutError(`boot profile slot ${slot} lists ${count} chunks, more than ${MAX_PROFILE_CHUNKS}`);
  if (b.remaining !== count * CHUNK_ID_BYTES) throw new LayoutError(`boot profile slot ${slot} lists ${count} chunks in ${body.length - BODY_HEAD_BYTES} bytes`);
  return { sequence, baseVersion, recordedMs, durationMs, ids: b.bytes(count * CHUNK_ID_BYTES) };
}
