import { argon2idAsync } from "@noble/hashes/argon2.js";
import { hkdfSync } from "node:crypto";

export interface Argon2Params {
  memoryKiB: number;
  passes: number;
  parallelism: number;
}

/** Interactive unlock on a slow laptop: about a second here (DESIGN section 8). */
export const ARGON2_DEFAULT: Argon2Params = { memoryKiB: 64 * 1024, passes: 3, parallelism: 1 };
/** The floor a stick may be built with; below it a stolen stick is too cheap to brute-force. */
export const ARGON2_MIN: Argon2Params = { memoryKiB: 8 * 1024, passes: 1, parallelism: 1 };
/** The ceiling a reader accepts, so a crafted key slot cannot make unlocking take all memory or forever. */
export const ARGON2_MAX: Argon2Params = { memoryKiB: 4 * 1024 * 1024, passes: 64, parallelism: 16 };

export function argon2ParamsProblem(p: Argon2Params): string | undefined {
  for (const k of ["memoryKiB", "passes", "parallelism"] as const) {
    if (!Number.isInteger(p[k]) || p[k] < ARGON2_MIN[k] || p[k] > ARGON2_MAX[k]) {
      return `argon2id ${k} must be an integer in ${ARGON2_MIN[k]}..${ARGON2_MAX[k]}, got ${p[k]}`;
    }
  }
  return undefined;
}

export async function argon2id(passphrase: string, salt: Uint8Array, p: Argon2Params): Promise<Uint8Array> {
  return argon2idAsync(Buffer.from(passphrase.normalize("NFC"), "utf8"), salt, {
    m: p.memoryKiB,
    t: p.passes,
    p: p.parallelism,
    dkLen: 32,
  });
}

export function hkdf32(ikm: Uint8Array, salt: Uint8Array, info: string): Buffer {
  return Buffer.from(hkdfSync("sha256", ikm, salt, Buffer.from(info, "utf8"), 32));
}
