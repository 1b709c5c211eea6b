import { randomBytes } from "node:crypto";
import { hkdf32 } from "../src/crypto/kdf.js";
import { sha256 } from "../src/crypto/hash.js";
import { LINEAGE_ID_BYTES } from "./format.js";

/** What a key slot wraps (FORMAT.md "Key slots"). */
export interface StickSecrets {
  /** AEAD key of base chunks: shared by every stick of one image lineage. */
  baseKey: Buffer;
  /** HMAC key that turns chunk plaintext into chunk ids: shared by the lineage, so ids dedupe across its sticks. */
  chunkIdKey: Buffer;
  /** This stick's own key for the user and system-change layers. */
  userKey: Buffer;
  /** This stick's own key for the header MAC. */
  headerMacKey: Buffer;
}

export const SECRETS_BYTES = 128;

export function encodeSecrets(s: StickSecrets): Buffer {
  return Buffer.concat([s.baseKey, s.chunkIdKey, s.userKey, s.headerMacKey]);
}

export function decodeSecrets(b: Buffer): StickSecrets {
  return {
    baseKey: b.subarray(0, 32),
    chunkIdKey: b.subarray(32, 64),
    userKey: b.subarray(64, 96),
    headerMacKey: b.subarray(96, 128),
  };
}

/** Overwrite key material once it is no longer needed. */
export function wipeSecrets(s: StickSecrets): void {
  for (const k of [s.baseKey, s.chunkIdKey, s.userKey, s.headerMacKey]) k.fill(0);
}

export function lineageIdFor(adminPublicKey: Uint8Array, lineageName: string): Buffer {
  return sha256(Buffer.from("stickvm lineage v1\0", "utf8"), adminPublicKey, Buffer.from(lineageName, "utf8")).subarray(
    0,
    LINEAGE_ID_BYTES,
  );
}

/**
 * Lineage keys come from the admin's signing seed, so every stick the admin builds for one
 * lineage (and every later update, which has only the signing key) uses the same base keys.
 */
export function newStickSecrets(adminSeed: Uint8Array, lineageId: Uint8Array): StickSecrets {
  return {
    baseKey: hkdf32(adminSeed, lineageId, "stickvm base key v1"),
    chunkIdKey: hkdf32(adminSeed, lineageId, "stickvm chunk id key v1"),
    userKey: randomBytes(32),
    headerMacKey: randomBytes(32),
  };
}
