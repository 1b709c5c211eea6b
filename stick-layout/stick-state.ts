import { AEAD_OVERHEAD, AeadAuthError, open, seal } from "../src/crypto/aead.js";
import { hkdf32 } from "../src/crypto/kdf.js";
import { ByteReader, ByteWriter, LayoutError } from "../src/util/bytes.js";
import { STICK_ID_BYTES } from "./format.js";

// The stick state (FORMAT.md §29): the last time a launcher saw on this stick, the last contact
// with the policy's update URL, and whether the update repository revoked the stick. Sealed under
// a key of the stick's user key, in two slots written in turn, so a torn write keeps the older one.
export const STICK_STATE_FILES = ["stick-state-0.bin", "stick-state-1.bin"] as const;
export const STICK_STATE_MAGIC = Buffer.from("SVMSTATE", "latin1");
export const STICK_STATE_VERSION = 1;
const HEAD_BYTES = 32;
const BODY_BYTES = 24;
const FLAG_REVOKED = 1;

export interface StickState {
  /** One more on every write; the slot is sequence mod 2. */
  sequence: number;
  /** The latest time, ms since 1970, a launcher saw on this stick (its start, an update contact). */
  lastSeenMs: number;
  /** The last successful contact with the update URL, ms since 1970; 0: none recorded. */
  lastContactMs: number;
  /** The update repository's revocation list named this stick: it never starts again. */
  revoked: boolean;
}

export function stickStateKey(userKey: Uint8Array, stickId: Uint8Array): Buffer {
  return hkdf32(userKey, stickId, "stickvm stick state v1");
}

/** The bytes of slot `sequence mod 2`'s file. */
export function encodeStickState(key: Uint8Array, stickId: Uint8Array, s: StickState): Buffer {
  const head = new ByteWriter().bytes(STICK_STATE_MAGIC).u16(STICK_STATE_VERSION).u8(s.sequence % 2).zeros(1).u32(s.sequence).bytes(stickId).finish();
  const body = new ByteWriter().u64(s.lastSeenMs).u64(s.lastContactMs).u32(s.revoked ? FLAG_REVOKED : 0).zeros(4).finish();
  return Buffer.concat([head, seal(key, body, head)]);
}

/** Parses and opens one slot's file; LayoutError says what is wrong (another stick's, the other slot's, a torn write, a wrong key). */
export function parseStickState(key: Uint8Array, stickId: Uint8Array, slot: number, bytes: Buffer): StickState {
  const what = `stick state slot ${slot}`;
  if (bytes.length !== HEAD_BYTES + BODY_BYTES + AEAD_OVERHEAD) throw new LayoutError(`${what} is ${bytes.length} bytes, not ${HEAD_BYTES + BODY_BYTES + AEAD_OVERHEAD} (a write was cut short)`);
  const r = new ByteReader(bytes, what);
  r.expect(STICK_STATE_MAGIC);
  const version = r.u16();
  if (version !== STICK_STATE_VERSION) throw new LayoutError(`${what}: version ${version} is not supported`);
  if (r.u8() !== slot) throw new LayoutError(`${what} holds the other slot's state`);
  r.zeros(1);
  const sequence = r.u32();
  if (sequence % 2 !== slot) throw new LayoutError(`${what} has sequence ${sequence}, which belongs in the other slot`);
  if (!r.bytes(STICK_ID_BYTES).equals(Buffer.from(stickId))) throw new LayoutError(`${what} belongs to another stick`);
  let body: Buffer;
  try {
    body = open(key, bytes.subarray(HEAD_BYTES), bytes.subarray(0, HEAD_BYTES));
  } catch (err) {
    if (err instanceof AeadAuthError) throw new LayoutError(`${what} does not open with this stick's key (damaged or edited)`);
    throw err;
  }
  const b = new ByteReader(body, what);
  const lastSeenMs = b.u64();
  const lastContactMs = b.u64();
  const flags = b.u32();
  if ((flags & ~FLAG_REVOKED) !== 0) throw new LayoutError(`${what} has unknown flags ${flags}`);
  return { sequence, lastSeenMs, lastContactMs, revoked: (flags & FLAG_REVOKED) !== 0 };
}
