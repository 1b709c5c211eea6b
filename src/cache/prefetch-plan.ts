import type { ChunkLocation } from "../../stick-layout/chunk-index.js";
import { CHUNK_ID_BYTES } from "../../stick-layout/format.js";

/** One read of the stick in a prefetch: the pack bytes that hold its chunks' records. */
export interface PrefetchSpan {
  pack: number;
  offset: number;
  length: number;
  chunks: { id: Uint8Array; loc: ChunkLocation }[];
}

/** Reads of up to 1 MiB: long enough that a USB stick streams, short enough that a guest's read waits little behind one. */
export const PREFETCH_SPAN_BYTES = 1024 * 1024;
/** Bytes between records read through rather than skipped with a second read (as the reader pool does). */
export const PREFETCH_GAP_BYTES = 64 * 1024;

export interface PlanInput {
  /** The profile's ids, 32 bytes each, in the order a session first read them. */
  ids: Buffer;
  /** Where the stick holds a chunk; undefined for a chunk this base version does not have. */
  locate: (id: Uint8Array) => ChunkLocation | undefined;
  /** The host cache holds it already. */
  held: (id: Uint8Array) => boolean;
  /** Record bytes to fetch at most (the cache's room for the boot set): the profile's first chunks win. */
  budgetBytes: number;
}

/**
 * The reads that bring a profile's chunks into the cache: the chunks the stick has and the cache
 * lacks, taken in the profile's order up to the budget, then sorted by their place on the stick
 * and grouped into spans, so that the stick is read once, front to back. A sweep gets the whole
 * set in far less time than the boot that needs it, and any chunk the guest wants before the sweep
 * reaches it is read for the guest first.
 */
export function planPrefetch(o: PlanInput): PrefetchSpan[] {
  const wanted: { id: Uint8Array; loc: ChunkLocation }[] = [];
  const seen = new Set<string>();
  let bytes = 0;
  for (let at = 0; at + CHUNK_ID_BYTES <= o.ids.length; at += CHUNK_ID_BYTES) {
    const id = o.ids.subarray(at, at + CHUNK_ID_BYTES);
    const key = id.toString("hex");
    if (seen.has(key)) continue;
    seen.add(key);
    const loc = o.locate(id);
    if (loc === undefined || o.held(id)) continue;
    if (bytes + loc.length > o.budgetBytes) break;
    bytes += loc.length;
    wanted.push({ id: Uint8Array.from(id), loc });
  }
  wanted.sort((a, b) => a.loc.pack - b.loc.pack || a.loc.offset - b.loc.offset);
  const spans: PrefetchSpan[] = [];
  for (const c of wanted) {
    const last = spans.at(-1);
    const end = c.loc.offset + c.loc.length;
    if (last !== undefined && last.pack === c.loc.pack && c.loc.offset <= last.offset + last.length + PREFETCH_GAP_BYTES && end - last.offset <= PREFETCH_SPAN_BYTES) {
      last.length = Math.max(last.length, end - last.offset);
      last.chunks.push(c);
    } else {
      spans.push({ pack: c.loc.pack, offset: c.loc.offset, length: c.loc.length, chunks: [c] });
    }
  }
  return spans;
}

/** The profile's ids (deduplicated, in its order) of the chunks `held` says the host cache holds, back to back. */
export function heldInOrder(ids: Buffer, held: (id: Uint8Array) => boolean): Uint8Array {
  const seen = new Set<string>();
  const out: Buffer[] = [];
  for (let at = 0; at + CHUNK_ID_BYTES <= ids.length; at += CHUNK_ID_BYTES) {
    const id = ids.subarray(at, at + CHUNK_ID_BYTES);
    const key = id.toString("hex");
    if (seen.has(key) || !held(id)) continue;
    seen.add(key);
    out.push(id);
  }
  return Uint8Array.from(Buffer.concat(out));
}
