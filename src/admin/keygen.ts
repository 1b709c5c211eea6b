import { chmod, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { encodePublicKeyFile, encodeSecretKeyFile } from "../../stick-layout/admin-key.js";
import { generateSigningKeyPair } from "../crypto/signing.js";
import { fileError } from "../errors/errors.js";
import { writeNewFileDurably } from "../util/durable-file.js";

export const SECRET_KEY_FILE = "admin.key";
export const PUBLIC_KEY_FILE = "admin.pub";

/** Writes a new admin key pair; never overwrites an existing key. The secret file is readable by its owner only. */
export async function keygen(outDir: string): Promise<{ secretKey: string; publicKey: string; publicKeyBase64: string }> {
  await mkdir(outDir, { recursive: true }).catch((err: unknown) => {
    throw fileError(err, "create", outDir);
  });
  const pair = generateSigningKeyPair();
  const secretKey = join(outDir, SECRET_KEY_FILE);
  const publicKey = join(outDir, PUBLIC_KEY_FILE);
  await writeNewFileDurably(secretKey, encodeSecretKeyFile(pair), 0o600);
  await chmod(secretKey, 0o600); // the umask may not narrow it, but a permissive one must not widen it either
  await writeNewFileDurably(publicKey, encodePublicKeyFile(pair.publicKey));
  pair.seed.fill(0);
  return { secretKey, publicKey, publicKeyBase64: pair.publicKey.toString("base64") };
}
