import { readFile } from "node:fs/promises";
import { parsePublicKeyFile, parseSecretKeyFile } from "../../stick-layout/admin-key.js";
import type { SigningKeyPair } from "../crypto/signing.js";
import { BadKeyFileError, fileError } from "../errors/errors.js";

const MAX_KEY_FILE_BYTES = 4096;

export async function readSigningKey(path: string): Promise<SigningKeyPair> {
  let text: string;
  try {
    const buf = await readFile(path);
    if (buf.length > MAX_KEY_FILE_BYTES) throw new BadKeyFileError(path, `it is ${buf.length} bytes, far larger than a key file`);
    text = buf.toString("utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new BadKeyFileError(path, "the file does not exist");
    throw fileError(err, "read signing key", path);
  }
  try {
    return parseSecretKeyFile(text);
  } catch (err) {
    let isPublic = false;
    try {
      parsePublicKeyFile(text);
      isPublic = true;
    } catch {
      // not a public key file either
    }
    if (isPublic) throw new BadKeyFileError(path, "it is the public half; pass the secret key file that keygen wrote (admin.key)");
    throw new BadKeyFileError(path, err instanceof Error ? err.message : String(err));
  }
}
