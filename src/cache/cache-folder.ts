import { join } from "node:path";
import { hkdf32 } from "../crypto/kdf.js";

const FOLDER_LABEL = "stickvm host cache folder v1";

/**
 * This stick's folder in the cache root: a name derived from the stick's own user key, so
 * that each stick has its own (two sticks of one image never share or clash) and nobody on
 * the host without the passphrase can tell which stick a folder belongs to, or link it to the
 * stick id that stick.hdr shows in the clear.
 */
export function stickCacheDir(root: string, userKey: Uint8Array, stickId: Uint8Array): string {
  return join(root, hkdf32(userKey, stickId, FOLDER_LABEL).subarray(0, 16).toString("hex"));
}
