import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { fileError } from "../errors/errors.js";
import { writeNewFileDurably } from "../util/durable-file.js";

/** The files every stick carries at its root for the person who finds it (FORMAT.md §2): start wrappers and a README. */
export const STATIC_FILES = ["README.txt", "run.sh", "run.cmd", "run.command"] as const;

/** Where the repository keeps them (this module is dist/src/admin/ once built). */
export const STATIC_DIR = fileURLToPath(new URL("../../../stick-layout/static/", import.meta.url));

/** Copies the static files into a stick being built, each created new and synced. */
export async function writeStaticFiles(out: string): Promise<void> {
  for (const name of STATIC_FILES) {
    const from = join(STATIC_DIR, name);
    let bytes: Buffer;
    try {
      bytes = await readFile(from);
    } catch (err) {
      throw fileError(err, "read", from);
    }
    // executable where the file system keeps modes; FAT ignores it, which is why run.sh is started with sh
    await writeNewFileDurably(join(out, name), bytes, name === "README.txt" || name === "run.cmd" ? 0o644 : 0o755);
  }
}
