import { sha256 } from "../src/crypto/hash.js";

// The recovery key as a person copies it (FORMAT.md "Recovery key"):
// "SVMR-" then base32 (RFC 4648 alphabet) of key(32) || sha256(key)[0..3], in groups of four.
const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const PREFIX = "SVMR";
export const RECOVERY_KEY_BYTES = 32;
const CHECK_BYTES = 3;

/** RFC 4648 base32, upper case, no padding. */
export function base32(bytes: Uint8Array): string {
  let bits = 0;
  let value = 0;
  let out = "";
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET.charAt((value >>> (bits - 5)) & 31);
      bits -= 5;
    }
  }
  if (bits > 0) out += ALPHABET.charAt((value << (5 - bits)) & 31);
  return out;
}

function unbase32(text: string): Buffer | undefined {
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const ch of text) {
    const v = ALPHABET.indexOf(ch);
    if (v < 0) return undefined;
    value = ((value << 5) | v) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

export function formatRecoveryKey(key: Uint8Array): string {
  const body = base32(Buffer.concat([key, sha256(key).subarray(0, CHECK_BYTES)]));
  return [PREFIX, ...(body.match(/.{1,4}/g) ?? [])].join("-");
}

/** Accepts any case, spaces and dashes; undefined when it is not a recovery key or has a typo. */
export function parseRecoveryKey(text: string): Buffer | undefined {
  const compact = text.toUpperCase().replace(/[\s-]/g, "");
  if (!compact.startsWith(PREFIX)) return undefined;
  const body = compact.slice(PREFIX.length);
  if (body.length !== Math.ceil(((RECOVERY_KEY_BYTES + CHECK_BYTES) * 8) / 5)) return undefined;
  const raw = unbase32(body);
  if (raw?.length !== RECOVERY_KEY_BYTES + CHECK_BYTES) return undefined;
  const key = raw.subarray(0, RECOVERY_KEY_BYTES);
  return sha256(key).subarray(0, CHECK_BYTES).equals(raw.subarray(RECOVERY_KEY_BYTES)) ? Buffer.from(key) : undefined;
}
