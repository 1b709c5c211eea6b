import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { indexFileName, packFileName, STICK_FILES } from "../../stick-layout/format.js";
import type { StickHeader } from "../../stick-layout/header.js";
import { ChunkIndex } from "../../stick-layout/chunk-index.js";
import { sha256 } from "../crypto/hash.js";
import { fileError } from "../errors/errors.js";
import { LayoutError } from "../util/bytes.js";
import { syncFolder } from "../util/durable-file.js";
import { stickInventory } from "./stick-inventory.js";

export interface Reclaimed {
  files: number;
  packs: number;
}

async function packsNamedBy(stickDir: string, version: number): Promise<Set<number>> {
  const path = join(stickDir, indexFileName(version));
  let index;
  try {
    index = ChunkIndex.parse(await readFile(path));
  } catch (err) {
    // an index that cannot be read keeps nothing alive: its version is not in use (the header's was read at open)
    if ((err as NodeJS.ErrnoException).code === "ENOENT" || err instanceof LayoutError) return new Set();
    throw fileError(err, "read", path);
  }
  return new Set([...index.entries()].map((e) => e.pack));
}

/**
 * Removes what no base version in use needs (FORMAT.md §27.6): files of other base versions
 * than the header's and `keep` (a staged update), packs that neither version's index names
 * (and that are below `keepPacksFrom`, where a download in progress writes), system changes
 * of older bases, and a policy.json that the header no longer names. Only run when both header
 * copies name the header's version: nothing removed here is read by either copy.
 */
export async function reclaim(stickDir: string, header: StickHeader, keep: { version?: number; packsFrom?: number }): Promise<Reclaimed> {
  const versions = new Set([header.baseVersion, ...(keep.version === undefined ? [] : [keep.version])]);
  const inv = await stickInventory(stickDir);
  const live = new Set<number>();
  for (const v of versions) for (const p of await packsNamedBy(stickDir, v)) live.add(p);
  const out: Reclaimed = { files: 0, packs: 0 };
  const remove = async (name: string, recursive = false): Promise<void> => {
    await rm(join(stickDir, name), { force: true, recursive });
    out.files += 1;
  };
  for (const f of inv.versionFiles.filter((f) => !versions.has(f.version))) await remove(f.name);
  for (const p of inv.packs.filter((n) => !live.has(n) && (keep.packsFrom === undefined || n < keep.packsFrom))) {
    await remove(packFileName(p));
    out.packs += 1;
  }
  for (const d of inv.systemChanges.filter((d) => d.version !== header.baseVersion)) await remove(d.name, true);
  const policy = await readFile(join(stickDir, STICK_FILES.policy)).catch(() => undefined);
  if (policy !== undefined && !sha256(policy).equals(header.policyDigest)) await remove(STICK_FILES.policy);
  if (out.files > 0) {
    await syncFolder(join(stickDir, STICK_FILES.baseDir));
    await syncFolder(join(stickDir, STICK_FILES.chunksDir));
    await syncFolder(stickDir);
  }
  return out;
}
