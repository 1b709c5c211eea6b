import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { releaseFileName } from "../../stick-layout/format.js";
import type { StickHeader } from "../../stick-layout/header.js";
import { parseRelease, releaseSignedBy, type Release } from "../../stick-layout/release.js";
import { fileError, UpdateRefusedError } from "../errors/errors.js";
import { LayoutError } from "../util/bytes.js";
import { stickInventory } from "./stick-inventory.js";

/** A release record's bytes signed by the admin key the header pins, for its lineage; UpdateRefusedError says which failed. */
export function authenticRelease(bytes: Buffer, header: Pick<StickHeader, "adminPublicKey" | "lineageId">, where: string): Release {
  let parsed;
  try {
    parsed = parseRelease(bytes);
  } catch (err) {
    if (err instanceof LayoutError) throw new UpdateRefusedError(`${where}: ${err.message}`);
    throw err;
  }
  if (!releaseSignedBy(parsed, header.adminPublicKey)) throw new UpdateRefusedError(`${where} is not signed by the admin key pinned in this stick's header`);
  const r = parsed.release;
  if (!r.lineageId.equals(header.lineageId)) throw new UpdateRefusedError(`${where} is for another lineage than this stick's`);
  return r;
}

/** An authentic release (`authenticRelease`) of a base version above the stick's: no rollback, no replay. */
export function checkRelease(bytes: Buffer, header: Pick<StickHeader, "adminPublicKey" | "lineageId" | "baseVersion">, where: string): Release {
  const r = authenticRelease(bytes, header, where);
  if (r.baseVersion <= header.baseVersion) {
    throw new UpdateRefusedError(`${where} is base version ${r.baseVersion}, not newer than this stick's ${header.baseVersion} (an older release is never applied: rollback)`);
  }
  return r;
}

/** The newest staged release that passes `checkRelease`; the ones that do not are named in `refused`. */
export async function findStagedRelease(stickDir: string, header: StickHeader): Promise<{ release: Release | undefined; refused: string[] }> {
  const staged = (await stickInventory(stickDir)).versionFiles
    .filter((f) => f.name === releaseFileName(f.version) && f.version > header.baseVersion)
    .sort((a, b) => b.version - a.version);
  const refused: string[] = [];
  for (const f of staged) {
    let bytes;
    try {
      bytes = await readFile(join(stickDir, f.name));
    } catch (err) {
      throw fileError(err, "read", join(stickDir, f.name));
    }
    try {
      return { release: checkRelease(bytes, header, f.name), refused };
    } catch (err) {
      if (!(err instanceof UpdateRefusedError)) throw err;
      refused.push(err.message);
    }
  }
  return { release: undefined, refused };
}
