import { readFile, truncate } from "node:fs/promises";
import { join } from "node:path";
import type { ChunkLocation } from "../../stick-layout/chunk-index.js";
import { packFileName, UPDATE_DOWNLOAD_DIR } from "../../stick-layout/format.js";
import { PACK_HEADER_BYTES, parsePackHeader, RECORD_HEAD_BYTES } from "../../stick-layout/pack.js";
import { ChunkDecodeError, openChunkPayload } from "../chunkstore/chunk-codec.js";
import { fileError } from "../errors/errors.js";
import { LayoutError } from "../util/bytes.js";

/**
 * The records a download wrote so far (FORMAT.md §28.4): its packs, from `firstPack` on, read
 * front to back; each record must open under the base key with its id. A pack is cut at its
 * first short or bad record (a crash's torn tail), and the scan stops at the first pack missing.
 */
export async function scanDownloadPacks(stickDir: string, firstPack: number, baseKey: Uint8Array): Promise<{ chunks: Map<string, ChunkLocation>; nextPack: number }> {
  const chunks = new Map<string, ChunkLocation>();
  let pack = firstPack;
  for (;; pack++) {
    const path = join(stickDir, packFileName(pack));
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") break;
      throw fileError(err, "read", path);
    }
    let good = 0;
    try {
      if (parsePackHeader(bytes.subarray(0, PACK_HEADER_BYTES)) === pack) good = PACK_HEADER_BYTES;
    } catch (err) {
      if (!(err instanceof LayoutError)) throw err;
    }
    while (good > 0 && good + RECORD_HEAD_BYTES <= bytes.length) {
      const id = bytes.subarray(good, good + 32);
      const length = RECORD_HEAD_BYTES + bytes.readUInt32LE(good + 32);
      if (good + length > bytes.length) break;
      try {
        openChunkPayload(baseKey, id, bytes.subarray(good + RECORD_HEAD_BYTES, good + length));
      } catch (err) {
        if (err instanceof ChunkDecodeError) break;
        throw err;
      }
      chunks.set(id.toString("hex"), { pack, offset: good, length });
      good += length;
    }
    if (good < bytes.length) {
      // a torn tail; a torn header leaves an empty file, which no index names and a reclaim removes
      await truncate(path, good).catch((err: unknown) => { throw fileError(err, "truncate", path); });
    }
  }
  return { chunks, nextPack: pack };
}

/** The download folder's note of the first pack it writes (§28.4). */
export const DOWNLOAD_STATE = "state.json";
/** The release a download in progress fetches, as the repository gave it. */
export const DOWNLOAD_RELEASE = "release.bin";

/** The download in progress, if it is of this release: the first pack it writes. */
export async function downloadInProgress(stickDir: string): Promise<{ release: Buffer; firstPack: number } | undefined> {
  try {
    const release = await readFile(join(stickDir, UPDATE_DOWNLOAD_DIR, DOWNLOAD_RELEASE));
    const state = JSON.parse(await readFile(join(stickDir, UPDATE_DOWNLOAD_DIR, DOWNLOAD_STATE), "utf8")) as { firstPack?: unknown };
    return typeof state.firstPack === "number" && Number.isSafeInteger(state.firstPack) ? { release, firstPack: state.firstPack } : undefined;
  } catch {
    return undefined;
  }
}

