import { open, readFile } from "node:fs/promises";
import { join } from "node:path";
import { BOOT_PROFILE_FILES } from "../../stick-layout/format.js";
import { encodeBootProfile, parseBootProfile, type BootProfile } from "../../stick-layout/boot-profile.js";
import { LayoutError } from "../util/bytes.js";
import { fileError } from "../errors/errors.js";
import { syncFolder } from "../util/durable-file.js";

/** A stick's boot profile as found: the newest slot that opens, and why any other slot did not. */
export interface LoadedProfile {
  profile: BootProfile | undefined;
  /** Slots that exist but did not open (a torn write, damage): said in a warning, never fatal. */
  problems: string[];
}

/** The newest valid slot; a missing slot is no problem (a stick starts with none). */
export async function loadBootProfile(stickDir: string, key: Uint8Array, stickId: Uint8Array): Promise<LoadedProfile> {
  let profile: BootProfile | undefined;
  const problems: string[] = [];
  for (const [slot, name] of BOOT_PROFILE_FILES.entries()) {
    let bytes: Buffer;
    try {
      bytes = await readFile(join(stickDir, name));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") problems.push(`${name} cannot be read: ${(err as Error).message}`);
      continue;
    }
    try {
      const p = parseBootProfile(key, stickId, slot, bytes);
      if (profile === undefined || p.sequence > profile.sequence) profile = p;
    } catch (err) {
      if (!(err instanceof LayoutError)) throw err;
      problems.push(err.message);
    }
  }
  return { profile, problems };
}

/**
 * Writes `p` over the slot its sequence names (never the slot of the profile it replaces) and
 * syncs it: a crash part way leaves that slot failing its seal and the other slot as it was.
 */
export async function saveBootProfile(stickDir: string, key: Uint8Array, stickId: Uint8Array, p: BootProfile): Promise<void> {
  const name = BOOT_PROFILE_FILES[p.sequence % 2] ?? BOOT_PROFILE_FILES[0];
  const path = join(stickDir, name);
  const bytes = encodeBootProfile(key, stickId, p);
  let fh;
  try {
    fh = await open(path, "w", 0o600);
  } catch (err) {
    throw fileError(err, "create", path);
  }
  try {
    await fh.writeFile(bytes);
    await fh.sync();
  } catch (err) {
    throw fileError(err, "write", path);
  } finally {
    await fh.close().catch(() => undefined);
  }
  await syncFolder(stickDir);
}
