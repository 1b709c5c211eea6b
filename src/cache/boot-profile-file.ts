import { join } from "node:path";
import { BOOT_PROFILE_FILES } from "../../stick-layout/format.js";
import { encodeBootProfile, parseBootProfile, type BootProfile } from "../../stick-layout/boot-profile.js";
import { LayoutError } from "../util/bytes.js";
import { nodeFiles, type StoreFiles } from "../util/store-files.js";

/** A stick's boot profile as found: the newest slot that opens, and why any other slot did not. */
export interface LoadedProfile {
  profile: BootProfile | undefined;
  /** Slots that exist but did not open (a torn write, damage): said in a warning, never fatal. */
  problems: string[];
}

/** The newest valid slot; a missing slot is no problem (a stick starts with none). */
export async function loadBootProfile(stickDir: string, key: Uint8Array, stickId: Uint8Array, files: StoreFiles = nodeFiles): Promise<LoadedProfile> {
  let profile: BootProfile | undefined;
  const problems: string[] = [];
  for (const [slot, name] of BOOT_PROFILE_FILES.entries()) {
    let bytes: Buffer | undefined;
    try {
      bytes = await files.readAll(join(stickDir, name));
    } catch (err) {
      problems.push(`${name} cannot be read: ${(err as Error).message}`);
      continue;
    }
    if (bytes === undefined) continue;
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
 * Writes `p` as a new file in the slot its sequence names (never the slot of the profile it
 * replaces), synced: a crash part way leaves that slot missing, short or failing its seal, and
 * the other slot as it was.
 */
export async function saveBootProfile(stickDir: string, key: Uint8Array, stickId: Uint8Array, p: BootProfile, files: StoreFiles = nodeFiles): Promise<void> {
  const name = BOOT_PROFILE_FILES[p.sequence % 2] ?? BOOT_PROFILE_FILES[0];
  const path = join(stickDir, name);
  const bytes = encodeBootProfile(key, stickId, p);
  await files.remove(path);
  await files.create(path, bytes.length, bytes);
  await files.syncFolder(stickDir);
}
