import { ChunkDecodeError } from "../chunkstore/chunk-codec.js";
import { readEntry, removeEntry, writeEntry, writeFailure, type WriteFailure } from "./entry-files.js";

/** What the main thread tells a chunk reader thread about the cache, per chunk (HostCache.job). */
export interface CacheJob {
  /** This stick's cache folder. */
  dir: string;
  /** The index holds the chunk: try the cache first. */
  cached: boolean;
  /** Store what is read from the stick (false while the cache is off). */
  store: boolean;
}

/** What happened, for HostCache.settle: where the chunk came from and what became of its entry. */
export interface CacheReport {
  from: "cache" | "stick";
  /** Stored (sealed) bytes read. */
  bytes: number;
  /** The entry was there in the index but missing or bad: why (it was removed). */
  bad?: string;
  stored?: boolean;
  /** Storing failed: the cache is off from now on. */
  storeFailed?: WriteFailure;
}

/**
 * Reads a chunk through the cache on a reader thread: the cache's entry when it opens (the seal
 * binds the id, so opening is the check), else the stick's record, stored into the cache once
 * it has opened (never cache what the stick gave bad). `report` is filled as it goes, so the
 * caller can send it even when the stick read throws.
 */
export function readThroughCache(job: CacheJob, id: Uint8Array, report: CacheReport, fromStick: () => Buffer, openSealed: (sealed: Buffer) => Buffer): Buffer {
  if (job.cached) {
    let sealed: Buffer | undefined;
    try {
      sealed = readEntry(job.dir, id);
    } catch (err) {
      report.bad = `it could not be read: ${(err as Error).message}`;
    }
    if (sealed === undefined) report.bad ??= "it is missing";
    else {
      try {
        const plain = openSealed(sealed);
        report.from = "cache";
        report.bytes = sealed.length;
        return plain;
      } catch (err) {
        if (!(err instanceof ChunkDecodeError)) throw err;
        report.bad = err.message;
      }
    }
    removeEntry(job.dir, id);
  }
  const sealed = fromStick();
  const plain = openSealed(sealed);
  report.bytes = sealed.length;
  if (job.store) {
    try {
      writeEntry(job.dir, id, sealed);
      report.stored = true;
    } catch (err) {
      report.storeFailed = writeFailure(err);
    }
  }
  return plain;
}
