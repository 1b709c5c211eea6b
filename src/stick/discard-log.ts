import { readdir, rm, rmdir, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileError } from "../errors/errors.js";
import { SUPERBLOCK_FILE } from "../layers/log/format.js";
import { syncFolder } from "../util/durable-file.js";

/** The steps of discarding a log, in order (FORMAT.md §30); a test stops after each one to stand for a crash there. */
export type DiscardStep = "superblock removed" | "log files removed" | "folder removed";

async function removeEntry(path: string): Promise<void> {
  try {
    await rm(path, { recursive: true, force: true });
  } catch (err) {
    throw fileError(err, "remove", path);
  }
}

/**
 * Removes the log in `dir` (FORMAT.md §18) and the folder, superblock first: once it is gone
 * the folder holds no log, so a crash part way leaves either the whole log or none (the next
 * open makes a new, empty one and removes the leftovers), never a log that reads garbage.
 * Returns the bytes the folder held.
 */
export async function discardLog(dir: string, afterStep?: (step: DiscardStep) => Promise<void>): Promise<number> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    throw fileError(err, "list", dir);
  }
  let bytes = 0;
  for (const name of names) bytes += (await stat(join(dir, name)).catch(() => undefined))?.size ?? 0;
  await removeEntry(join(dir, SUPERBLOCK_FILE));
  await syncFolder(dir);
  await afterStep?.("superblock removed");
  for (const name of names) await removeEntry(join(dir, name));
  await syncFolder(dir);
  await afterStep?.("log files removed");
  try {
    await rmdir(dir);
  } catch (err) {
    throw fileError(err, "remove", dir);
  }
  await syncFolder(dirname(dir));
  await afterStep?.("folder removed");
  return bytes;
}
