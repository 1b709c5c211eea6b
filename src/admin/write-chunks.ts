import type { ChunkLocation } from "../../stick-layout/chunk-index.js";
import { entryCountFor } from "../../stick-layout/manifest.js";
import type { PackWriter } from "../chunkstore/pack-writer.js";
import { InterruptedError } from "../errors/errors.js";
import { ChunkPipeline } from "./chunk-pipeline.js";
import type { Batch } from "./chunk-worker.js";
import { DedupTable } from "./dedup-table.js";
import type { ImageSource } from "./image-source.js";

/** Chunks per batch sent to a worker: big enough to amortise the hand-off, small enough to bound memory. */
const BATCH_BYTES = 4 * 1024 * 1024;

/** What the build cuts into chunks: a disk image, or a boot file (whose size need not be a multiple of 512). */
export type ChunkSource = Pick<ImageSource, "size" | "read">;

export interface ChunkCounts {
  total: number;
  zero: number;
  unique: number;
  duplicate: number;
}

/** One disk cut into chunks: its manifest entries and what became of its chunks. */
export interface DiskChunks {
  /** entryCount × 32 bytes: chunk i's id, or 32 zero bytes. */
  entries: Buffer;
  counts: ChunkCounts;
}

export interface WriteChunksOptions {
  keys: { baseKey: Buffer; chunkIdKey: Buffer };
  chunkSize: number;
  compressionLevel: number;
  threads: number;
  /** The message of the InterruptedError thrown when `signal` aborts. */
  interrupted: string;
  signal?: AbortSignal;
  /** Bytes read so far over the bytes of all disks. */
  onProgress?: (bytesDone: number, bytesTotal: number) => void;
  /** The ids already in `packs.index` (a base update's kept chunks); default: none. */
  dedup?: DedupTable;
  /** Where the stick already holds a chunk (a base update): indexed there instead of stored again. */
  reuse?: (id: Buffer) => ChunkLocation | undefined;
}

/**
 * Cuts each disk, in turn, into chunks encoded by worker threads, and appends every new chunk
 * to the packs once, in disk order: a chunk of a later disk that an earlier one already stored
 * is not stored again (one dedup table and one chunk pipeline for all disks).
 */
export async function writeDisks(sources: ChunkSource[], packs: PackWriter, o: WriteChunksOptions): Promise<DiskChunks[]> {
  const { chunkSize } = o;
  const seen = o.dedup ?? new DedupTable(packs.index);
  const batchBytes = Math.max(chunkSize, BATCH_BYTES - (BATCH_BYTES % chunkSize));
  // two batches per thread keep every worker busy while the main thread reads and writes
  const pipeline = new ChunkPipeline({ ...o.keys, chunkSize, level: o.compressionLevel }, o.threads, batchBytes, o.threads * 2);
  const bytesTotal = sources.reduce((sum, s) => sum + s.size, 0);
  let bytesBefore = 0;
  try {
    const out: DiskChunks[] = [];
    for (const source of sources) {
      out.push(await writeDisk(source, packs, seen, pipeline, o, (done) => o.onProgress?.(bytesBefore + done, bytesTotal)));
      bytesBefore += source.size;
    }
    return out;
  } finally {
    await pipeline.close();
  }
}

/** Reads one disk batch by batch, encodes in workers, and stores each new chunk once, in disk order. */
async function writeDisk(
  source: ChunkSource,
  packs: PackWriter,
  seen: DedupTable,
  pipeline: ChunkPipeline,
  o: WriteChunksOptions,
  onProgress: (bytesDone: number) => void,
): Promise<DiskChunks> {
  const { chunkSize } = o;
  const { batchBytes } = pipeline;
  const total = entryCountFor(source.size, chunkSize);
  const entries = Buffer.alloc(total * 32);
  const counts = { total, zero: 0, unique: 0, duplicate: 0 };
  const inFlight: Promise<Batch>[] = [];
  let readPos = 0;
  let chunkIndex = 0;

  const consume = async (): Promise<void> => {
    const head = inFlight.shift();
    if (head === undefined) return;
    const batch = await head;
    const ids = Buffer.from(batch.ids);
    const sealed = Buffer.from(batch.sealed);
    let at = 0;
    for (const [i, len] of batch.sealedLengths.entries()) {
      const index = chunkIndex++;
      if (len === 0) {
        counts.zero += 1;
        continue;
      }
      const id = ids.subarray(i * 32, (i + 1) * 32);
      id.copy(entries, index * 32);
      const body = sealed.subarray(at, at + len);
      at += len;
      if (seen.find(id) !== undefined) {
        counts.duplicate += 1;
        continue;
      }
      const kept = o.reuse?.(id);
      if (kept !== undefined) {
        seen.add(id, packs.index.add({ id, ...kept }));
        counts.duplicate += 1;
        continue;
      }
      seen.add(id, await packs.append(id, body));
      counts.unique += 1;
    }
    pipeline.release(batch); // append copied what it needs
    onProgress(Math.min(chunkIndex * chunkSize, source.size));
  };

  try {
    while (readPos < source.size) {
      if (o.signal?.aborted) throw new InterruptedError(o.interrupted);
      let batch = pipeline.take();
      while (batch === undefined) {
        await consume();
        batch = pipeline.take();
      }
      const length = Math.min(batchBytes, source.size - readPos);
      const whole = Math.ceil(length / chunkSize) * chunkSize;
      const input = Buffer.from(batch.input);
      await source.read(readPos, input.subarray(0, length));
      input.fill(0, length, whole); // the image's tail is zero-padded to a whole chunk
      batch.length = whole;
      inFlight.push(pipeline.submit(batch));
      readPos += length;
    }
    while (inFlight.length > 0) {
      if (o.signal?.aborted) throw new InterruptedError(o.interrupted);
      await consume();
    }
  } catch (err) {
    // let outstanding batches settle so no rejection goes unhandled
    await Promise.allSettled(inFlight);
    throw err;
  }
  return { entries, counts };
}
