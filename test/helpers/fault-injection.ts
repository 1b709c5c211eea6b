// Fault injection for a stick's chunk reads, in the style of nbdkit's error filter: the chunks
// chosen fail the way a stick's bad sectors do (an I/O error), every other read passes through.
// It sits where the stick is read (below the base layer's cache and read-ahead), so a test sees
// what those do with a failure: pass it on to exactly the reads that need the chunk, keep no
// poisoned state, and serve the chunk once the fault is gone.
import { BaseImage } from "../../src/chunkstore/base-image.js";
import { StickvmError } from "../../src/errors/errors.js";
import { entryCountFor, manifestEntry } from "../../stick-layout/manifest.js";

export interface FaultyImage {
  image: BaseImage;
  /** Chunk indexes whose reads fail; change it while the image is in use (clear it: the stick "recovers"). */
  failing: Set<number>;
  /** How many reads of each chunk index reached the stick, failed or not. */
  reads: Map<number, number>;
}

export function failingChunkReads(lower: BaseImage, failing: Iterable<number> = []): FaultyImage {
  const m = lower.manifest;
  // the first index of each id: identical chunks are stored once, so failing one fails them all
  const indexOf = new Map<string, number>();
  for (let i = 0; i < entryCountFor(m.diskSize, m.chunkSize); i++) {
    const hex = manifestEntry(m, i).toString("hex");
    if (!indexOf.has(hex)) indexOf.set(hex, i);
  }
  const faulty: FaultyImage = { image: lower, failing: new Set(failing), reads: new Map() };
  faulty.image = new BaseImage(m, async (id, urgent) => {
    const hex = id.toString("hex");
    const index = indexOf.get(hex);
    if (index === undefined) throw new Error(`chunk ${hex} is not in the manifest`);
    faulty.reads.set(index, (faulty.reads.get(index) ?? 0) + 1);
    if (faulty.failing.has(index)) throw new StickvmError("IO", `injected read error: chunk ${index} (${hex}) on the stick`);
    return lower.chunk(index, urgent);
  });
  return faulty;
}
