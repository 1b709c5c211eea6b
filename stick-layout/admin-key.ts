import { ED25519_PUBLIC_BYTES, ED25519_SEED_BYTES, publicKeyOfSeed, type SigningKeyPair } from "../src/crypto/signing.js";

// Admin key files (FORMAT.md "Admin key files"): short text files, one field a line.
export const SECRET_KEY_TITLE = "stickvm admin signing key v1";
export const PUBLIC_KEY_TITLE = "stickvm admin public key v1";

export function encodeSecretKeyFile(pair: SigningKeyPair): string {
  return `${SECRET_KEY_TITLE}\nseed: ${pair.seed.toString("base64")}\npublic: ${pair.publicKey.toString("base64")}\n`;
}

export function encodePublicKeyFile(publicKey: Buffer): string {
  return `${PUBLIC_KEY_TITLE}\npublic: ${publicKey.toString("base64")}\n`;
}

function fields(text: string, title: string): Map<string, string> {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== "");
  if (lines[0] !== title) throw new Error(`the first line is not "${title}"`);
  const out = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const m = /^([a-z]+): ([A-Za-z0-9+/=]+)$/.exec(line);
    if (m?.[1] === undefined || m[2] === undefined) throw new Error(`unexpected line "${line.slice(0, 40)}"`);
    out.set(m[1], m[2]);
  }
  return out;
}

function keyField(f: Map<string, string>, name: string, bytes: number): Buffer {
  const v = f.get(name);
  if (v === undefined) throw new Error(`no "${name}:" line`);
  const b = Buffer.from(v, "base64");
  if (b.length !== bytes || b.toString("base64") !== v) throw new Error(`"${name}" is not ${bytes} bytes of base64`);
  return b;
}

/** Parses a secret key file; throws a plain Error saying why it is not one. */
export function parseSecretKeyFile(text: string): SigningKeyPair {
  const f = fields(text, SECRET_KEY_TITLE);
  const seed = keyField(f, "seed", ED25519_SEED_BYTES);
  const publicKey = keyField(f, "public", ED25519_PUBLIC_BYTES);
  if (!publicKeyOfSeed(seed).equals(publicKey)) throw new Error("its public key does not belong to its seed");
  return { seed, publicKey };
}

export function parsePublicKeyFile(text: string): Buffer {
  return keyField(fields(text, PUBLIC_KEY_TITLE), "public", ED25519_PUBLIC_BYTES);
}
