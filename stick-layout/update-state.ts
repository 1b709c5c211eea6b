import { equalBytes, hmacSha256 } from "../src/crypto/hash.js";
import { hkdf32 } from "../src/crypto/kdf.js";
import { ByteReader, ByteWriter, LayoutError } from "../src/util/bytes.js";
import { DIGEST_BYTES, STICK_ID_BYTES } from "./format.js";

// The update state (FORMAT.md §27.5): how often the person postponed a staged update, and when
// the update URL last answered. Two slots written in turn, each authenticated under a key of
// the stick's own, so that nobody without the passphrase can reset the count.
export const UPDATE_STATE_MAGIC = Buffer.from("SVMUPST\0", "latin1");
export const UPDATE_STATE_VERSION = 1;
const MACKED_BYTES = 48;
export const UPDATE_STATE_BYTES = MACKED_BYTES + DIGEST_BYTES;

export interface UpdateState {
  /** One more on every write; the slot is sequence mod 2. */
  sequence: number;
  /** The staged base version the postponements were for (0: none). */
  postponedVersion: number;
  postponeCount: number;
  /** When the update URL last gave a validly signed answer (ms since 1970; 0: never). */
  lastContactMs: number;
}

export function updateStateKey(userKey: Uint8Array, stickId: Uint8Array): Buffer {
  return hkdf32(userKey, stickId, "stickvm update state v1");
}

export function encodeUpdateState(key: Uint8Array, stickId: Uint8Array, s: UpdateState): Buffer {
  const body = new ByteWriter()
    .bytes(UPDATE_STATE_MAGIC)
    .u16(UPDATE_STATE_VERSION)
    .u8(s.sequence % 2)
    .zeros(1)
    .u32(s.sequence)
    .bytes(stickId)
    .u32(s.postponedVersion)
    .u32(s.postponeCount)
    .u64(s.lastContactMs)
    .finish();
  return Buffer.concat([body, hmacSha256(key, body)]);
}

/** Parses and authenticates one slot's file; LayoutError says what is wrong. */
export function parseUpdateState(key: Uint8Array, stickId: Uint8Array, slot: number, buf: Buffer): UpdateState {
  if (buf.length !== UPDATE_STATE_BYTES) throw new LayoutError(`update state is ${buf.length} bytes, expected ${UPDATE_STATE_BYTES} (a write was cut short)`);
  if (!equalBytes(hmacSha256(key, buf.subarray(0, MACKED_BYTES)), buf.subarray(MACKED_BYTES))) throw new LayoutError("update state fails its MAC");
  const r = new ByteReader(buf, "update state");
  r.expect(UPDATE_STATE_MAGIC);
  const version = r.u16();
  if (version !== UPDATE_STATE_VERSION) throw new LayoutError(`update state: version ${version} is not supported`);
  const fileSlot = r.u8();
  r.zeros(1);
  const sequence = r.u32();
  if (fileSlot !== slot || sequence % 2 !== slot) throw new LayoutError(`update state: slot ${slot} holds slot ${fileSlot}'s sequence ${sequence}`);
  if (!r.bytes(STICK_ID_BYTES).equals(Buffer.from(stickId))) throw new LayoutError("update state: another stick's");
  return { sequence, postponedVersion: r.u32(), postponeCount: r.u32(), lastContactMs: r.u64() };
}
