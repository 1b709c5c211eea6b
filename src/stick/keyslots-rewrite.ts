import { open, rm } from "node:fs/promises";
import { join } from "node:path";
import { STICK_FILES } from "../../stick-layout/format.js";
import { fileError } from "../errors/errors.js";
import { syncFolder, writeNewFileDurably } from "../util/durable-file.js";

// Rewriting keyslots.bin on a stick that has no atomic rename (FAT, exFAT): FORMAT.md §30.
// The next file is first written whole as keyslots.new; a reader looks at it only when
// keyslots.bin fails its checksum, which is what a torn in-place write leaves.

/** The write steps, in order; a test stops after each one to stand for a crash there. */
export type RewriteStep = "stale next file removed" | "next file written" | "key slots written" | "next file removed";

export interface RewriteOptions {
  /** keyslots.bin is torn and keyslots.new holds the slots that open now: it stays the fallback until keyslots.bin is whole again. */
  binTorn: boolean;
  /** Called after each durable step. */
  afterStep?: (step: RewriteStep) => Promise<void>;
}

/** Overwrites a file in place (no rename, no new name) and syncs it. */
async function overwriteInPlace(path: string, bytes: Buffer): Promise<void> {
  let fh;
  try {
    fh = await open(path, "r+");
  } catch (err) {
    throw fileError(err, "open", path);
  }
  try {
    await fh.writeFile(bytes); // from offset 0 of the fresh handle, every byte
    if ((await fh.stat()).size !== bytes.length) await fh.truncate(bytes.length);
    await fh.sync();
  } catch (err) {
    throw fileError(err, "write", path);
  } finally {
    await fh.close();
  }
}

async function removeDurably(dir: string, path: string): Promise<void> {
  try {
    await rm(path, { force: true });
  } catch (err) {
    throw fileError(err, "remove", path);
  }
  await syncFolder(dir);
}

/** Replaces keyslots.bin with `next` so that a crash at any point leaves either the old slots or the new ones readable. */
export async function rewriteKeySlots(stickDir: string, next: Buffer, o: RewriteOptions): Promise<void> {
  const bin = join(stickDir, STICK_FILES.keyslots);
  const nextFile = join(stickDir, STICK_FILES.keyslotsNext);
  const step = async (s: RewriteStep): Promise<void> => o.afterStep?.(s);
  if (!o.binTorn) {
    // a keyslots.new left by an earlier, interrupted rewrite is stale while keyslots.bin is whole
    await removeDurably(stickDir, nextFile);
    await step("stale next file removed");
    await writeNewFileDurably(nextFile, next);
    await syncFolder(stickDir);
    await step("next file written");
  }
  await overwriteInPlace(bin, next);
  await step("key slots written");
  await removeDurably(stickDir, nextFile);
  await step("next file removed");
}
