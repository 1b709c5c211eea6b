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

/** The sealed form in its parts (nonce, ciphertext, tag), for a caller that copies them into place anyway. */
export function sealParts(key: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Buffer[] {
  const nonce = Buffer.from(nextNonce());
  const cipher = createCipheriv("aes-256-gcm", key, nonce);
  cipher.setAAD(aad);
  const body = cipher.update(plaintext);
  const final = cipher.final();
  return [nonce, body, final, cipher.getAuthTag()];
}

export function seal(key: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Buffer {
  return Buffer.concat(sealParts(key, plaintext, aad));
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
    const out = decipher.update(body);
    const rest = decipher.final();
    // GCM gives everything from update: skip a copy of the whole plaintext
    return rest.length === 0 ? out : Buffer.concat([out, rest]);
  } catch {
    throw new AeadAuthError();
  }
}
