import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { LAUNCHER_FILES } from "../../stick-layout/format.js";
import { fileError, UsageError } from "../errors/errors.js";
import { writeNewFileDurably } from "../util/durable-file.js";

/**
 * The launcher executables in `dir` (what `npm run build:exe` writes to dist/exe), by their
 * names on a stick. Checked before the build writes anything: a folder holding none of them
 * is a mistake, not a stick without launchers.
 */
export async function findLaunchers(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    throw fileError(err, "read the launchers folder", dir);
  }
  const known: readonly string[] = Object.values(LAUNCHER_FILES);
  const found = known.filter((n) => names.includes(n));
  if (found.length === 0) throw new UsageError(`--launchers ${dir} holds none of ${known.join(", ")} (build them with npm run build:exe, into dist/exe)`);
  return found;
}

/** Copies the launchers to the stick's root, each created new and synced; executable where the file system keeps modes. */
export async function writeLaunchers(dir: string, names: readonly string[], out: string): Promise<void> {
  for (const name of names) {
    const from = join(dir, name);
    const bytes = await readFile(from).catch((err: unknown) => {
      throw fileError(err, "read", from);
    });
    await writeNewFileDurably(join(out, name), bytes, 0o755);
  }
}
