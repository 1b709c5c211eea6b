import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

// One file per chunk in a host cache folder (FORMAT.md "Host cache"): chunks/<first two hex
// digits of the id>/<id in hex>, holding the sealed chunk exactly as on the stick. Blocking
// calls: they run on the chunk reader threads (and in the tools' ChunkStore).

export const CHUNKS_DIR = "chunks";
/** Names of entries: the id in hex, nothing else (temporary files end in TMP_SUFFIX). */
export const ENTRY_NAME = /^[0-9a-f]{64}$/;
export const TMP_SUFFIX = ".tmp";

export function entryPath(dir: string, id: Uint8Array): string {
  const hex = Buffer.from(id).toString("hex");
  return join(dir, CHUNKS_DIR, hex.slice(0, 2), hex);
}

/** The stored bytes, or undefined when there is no entry. Other read errors throw. */
export function readEntry(dir: string, id: Uint8Array): Buffer | undefined {
  try {
    return readFileSync(entryPath(dir, id));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/**
 * Writes an entry whole under a temporary name, then renames it into place: a reader sees the
 * old entry, no entry, or the new one, never a half-written one while the host runs. No sync:
 * after a power cut an entry may hold anything, and the seal check on read catches it.
 */
export function writeEntry(dir: string, id: Uint8Array, sealed: Uint8Array): void {
  const path = entryPath(dir, id);
  const tmp = `${path}.${String(process.pid)}-${randomBytes(4).toString("hex")}${TMP_SUFFIX}`;
  mkdirSync(join(path, ".."), { recursive: true, mode: 0o700 });
  try {
    writeFileSync(tmp, sealed, { mode: 0o600, flag: "wx" });
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** Best effort: an entry that cannot be removed is still never served, since it fails its check on every read. */
export function removeEntry(dir: string, id: Uint8Array): void {
  try {
    rmSync(entryPath(dir, id), { force: true });
  } catch {
    // see above
  }
}

/** Why writing an entry failed, as plain data (it crosses threads): a full disk turns the cache off like any other failure, but is named. */
export interface WriteFailure {
  message: string;
  noSpace: boolean;
}

export function writeFailure(err: unknown): WriteFailure {
  const code = (err as NodeJS.ErrnoException).code;
  return { message: (err as Error).message, noSpace: code === "ENOSPC" || code === "EDQUOT" };
}
