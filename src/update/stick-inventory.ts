import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { STICK_FILES } from "../../stick-layout/format.js";
import { fileError } from "../errors/errors.js";

// What files of which base version a stick holds (FORMAT.md §27): what staging replaces and
// reclaiming removes, found by name.

/** A file that belongs to one base version: a manifest, boot manifest, release record, policy or index. */
export interface VersionFile {
  /** Relative to the stick's root. */
  name: string;
  version: number;
}

export interface StickInventory {
  versionFiles: VersionFile[];
  /** Pack numbers present in chunks/. */
  packs: number[];
  /** Folders `system-changes-NNNNNNNN/` with their base version. */
  systemChanges: VersionFile[];
}

const BASE_FILE = /^(manifest|boot|release|policy)-(\d{8,10})\.(bin|json)$/;
const INDEX_FILE = /^index-(\d{8,10})\.bin$/;
const PACK_FILE = /^pack-(\d{8,10})\.svp$/;
const SYSTEM_CHANGES = /^system-changes-(\d{8,10})$/;

async function names(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw fileError(err, "read", dir);
  }
}

export async function stickInventory(stickDir: string): Promise<StickInventory> {
  const versionFiles: VersionFile[] = [];
  const packs: number[] = [];
  for (const name of await names(join(stickDir, STICK_FILES.baseDir))) {
    const m = BASE_FILE.exec(name);
    // a user template's manifest has no number: it belongs to no base version
    if (m?.[2] !== undefined) versionFiles.push({ name: `${STICK_FILES.baseDir}/${name}`, version: Number(m[2]) });
  }
  for (const name of await names(join(stickDir, STICK_FILES.chunksDir))) {
    const index = INDEX_FILE.exec(name)?.[1];
    if (index !== undefined) versionFiles.push({ name: `${STICK_FILES.chunksDir}/${name}`, version: Number(index) });
    const pack = PACK_FILE.exec(name)?.[1];
    if (pack !== undefined) packs.push(Number(pack));
  }
  const systemChanges = (await names(stickDir)).flatMap((name) => {
    const v = SYSTEM_CHANGES.exec(name)?.[1];
    return v === undefined ? [] : [{ name, version: Number(v) }];
  });
  return { versionFiles, packs: packs.sort((a, b) => a - b), systemChanges };
}
