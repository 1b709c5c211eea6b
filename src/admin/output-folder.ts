import { lstat, mkdir, readdir, rm, rmdir } from "node:fs/promises";
import { join } from "node:path";
import { fileError, StickvmError } from "../errors/errors.js";

/**
 * Creates a stick's output folder, or accepts an existing empty one; returns whether it was
 * created. `command` names who refuses a non-empty one ("make-stick build").
 */
export async function prepareOutput(out: string, command: string): Promise<boolean> {
  let entries: string[];
  try {
    entries = await readdir(out);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") {
      await mkdir(out, { recursive: true }).catch((e: unknown) => {
        throw fileError(e, "create", out);
      });
      return true;
    }
    if (code === "ENOTDIR") throw new StickvmError("OUTPUT_NOT_EMPTY", `${out} is a file; the stick must be a new or empty folder`);
    throw fileError(err, "read", out);
  }
  if (entries.length > 0) {
    throw new StickvmError("OUTPUT_NOT_EMPTY", `${out} is not empty (${entries.length} entries); ${command} writes only into a new or empty folder`);
  }
  return false;
}

/** Removes what a failed command wrote: everything in the folder (it was empty), and the folder if the command made it. */
export async function removePartialStick(out: string, created: boolean): Promise<void> {
  const entries = await readdir(out).catch(() => []);
  await Promise.all(entries.map((e) => rm(join(out, e), { recursive: true, force: true })));
  if (created) await rmdir(out).catch(() => undefined);
}

/** Fails now, before the long part of a command, if `path` exists (or cannot be checked); `refusal` says why it must not. */
export async function refuseExisting(path: string, refusal: () => StickvmError): Promise<void> {
  try {
    await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
    throw fileError(err, "check", path);
  }
  throw refusal();
}
