import { createCipheriv, createDecipheriv, randomFillSync } from "node:crypto";

// AES-256-GCM from Node's crypto (native, ~1.8 GB/s here). Sealed form: nonce || ciphertext || tag.
export const AEAD_NONCE_BYTES = 12;
export const AEAD_TAG_BYTES = 16;
export const AEAD_OVERHEAD = AEAD_NONCE_BYTES + AEAD_TAG_BYTES;

export class AeadAuthError extends Error {
  constructor() {
    super("authentication failed");
  }
}

// Random nonces come from a pool filled 4 KiB at a time: one call to the CSPRNG per 12 bytes
// costs several microseconds, as much as sealing a 4 KiB block.
const noncePool = Buffer.alloc(4092);
let noncePoolUsed = noncePool.length;

function nextNonce(): Buffer {
  if (noncePoolUsed === noncePool.length) {
    randomFillSync(noncePool);
    noncePoolUsed = 0;
  }
  noncePoolUsed += AEAD_NONCE_BYTES;
  return noncePool.subarray(noncePoolUsed - AEAD_NONCE_BYTES, noncePoolUsed);
}

export function seal(key: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Buffer {
  const nonce = nextNonce();
  const cipher = createCipheriv("aes-256-gcm", key, nonce);
  cipher.setAAD(aad);
  const out = Buffer.allocUnsafe(plaintext.length + AEAD_OVERHEAD);
  nonce.copy(out, 0);
  let at = AEAD_NONCE_BYTES + cipher.update(plaintext).copy(out, AEAD_NONCE_BYTES);
  at += cipher.final().copy(out, at);
  cipher.getAuthTag().copy(out, at);
  return out;
}

export function open(key: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Buffer {
  if (sealed.length < AEAD_OVERHEAD) throw new AeadAuthError();
  const nonce = sealed.subarray(0, AEAD_NONCE_BYTES);
  const tag = sealed.subarray(sealed.length - AEAD_TAG_BYTES);
  const body = sealed.subarray(AEAD_NONCE_BYTES, sealed.length - AEAD_TAG_BYTES);
  const decipher = createDecipheriv("aes-256-gcm", key, nonce);
  decipher.setAAD(aad);
  decipher.setAuthTag(tag);
  try {
    const plain = decipher.update(body);
    const final = decipher.final();
    return final.length === 0 ? plain : Buffer.concat([plain, final]);
  } catch {
    throw new AeadAuthError();
  }
}
