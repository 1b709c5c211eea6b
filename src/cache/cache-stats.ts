/** What the host cache did in one session (logged at its end, printed by `--stats`). */
export interface CacheStats {
  /** Chunks served from the cache, and their stored bytes. */
  hits: number;
  bytesFromCache: number;
  /** Chunks read from the stick, and their stored bytes. */
  misses: number;
  bytesFromStick: number;
  /** Chunks written into the cache by reads. */
  inserts: number;
  /** Chunks a boot prefetch wrote into the cache, and their stored bytes. */
  prefetched: number;
  bytesPrefetched: number;
  evictions: number;
  /** Entries that were missing, truncated or did not open: removed and read from the stick. */
  badEntries: number;
  /** Bytes held at the end, and the bound. */
  heldBytes: number;
  boundBytes: number;
  /** Why the cache was off for (part of) the session, if it was. */
  off: string | undefined;
}

export function emptyStats(): CacheStats {
  return { hits: 0, bytesFromCache: 0, misses: 0, bytesFromStick: 0, inserts: 0, prefetched: 0, bytesPrefetched: 0, evictions: 0, badEntries: 0, heldBytes: 0, boundBytes: 0, off: undefined };
}

function mib(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

/** One line for the log. */
export function describeStats(s: CacheStats): string {
  const bad = s.badEntries === 0 ? "" : `, ${s.badEntries} bad ${s.badEntries === 1 ? "entry" : "entries"} read again from the stick`;
  const off = s.off === undefined ? "" : ` (off: ${s.off})`;
  const prefetched = s.prefetched === 0 ? "" : `, ${s.prefetched} prefetched (${mib(s.bytesPrefetched)})`;
  return `host cache${off}: ${s.hits} hits (${mib(s.bytesFromCache)}), ${s.misses} chunks from the stick (${mib(s.bytesFromStick)})${prefetched}, ${s.evictions} evictions${bad}; holds ${mib(s.heldBytes)} of ${mib(s.boundBytes)}`;
}
