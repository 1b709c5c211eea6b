import { parentPort, workerData } from "node:worker_threads";
import type { ChunkLocation } from "../../stick-layout/chunk-index.js";
import { ChunkInvalidError, CorruptStickError, StickvmError, type ErrorCode } from "../errors/errors.js";
import { ownedCopy } from "../util/bytes.js";
import { readThroughCache, type CacheJob, type CacheReport } from "../cache/read-through.js";
import { ChunkDecodeError, openChunk } from "./chunk-codec.js";
import { PackReader } from "./pack-reader.js";

// Worker thread of the serve path: reads a run of chunks' pack records with one read, opens and inflates each.
export interface ChunkReaderSetup {
  stickDir: string;
  chunkSize: number;
  /** The base key, shared so that the owner's wipe reaches this thread's copy too. */
  baseKey: SharedArrayBuffer;
}

export interface ChunkJob {
  id: Uint8Array;
  loc: ChunkLocation;
  /** Read through the host cache (absent: straight from the stick). */
  cache?: CacheJob;
}

/** Chunks whose records lie close together in one pack (or a single chunk): read from the stick with one pread. */
export interface ChunkRun {
  seq: number;
  jobs: ChunkJob[];
  /** The bytes of the pack that hold all their records. */
  span: ChunkLocation;
}

/**
 * The plaintext in a transferred buffer, or why there is none (errors cross threads as plain
 * data, so each kind the reader throws travels with what rebuilds it): `decode` when the
 * record is there but does not decode, `invalid` and `corrupt` for those typed errors, `stick`
 * for another typed error (its code and message), `bug` for anything else.
 */
export type ChunkResult = (
  | { plain: ArrayBuffer }
  | { decode: string }
  | { invalid: { where: string; why: string } }
  | { corrupt: string }
  | { stick: { code: ErrorCode; message: string } }
  | { bug: string }
) & { cache?: CacheReport | undefined };

/** A run's results, one per job in its order, and the reads of the stick it took (0 or 1). */
export interface RunResult {
  seq: number;
  results: ChunkResult[];
  stickReads: number;
  stickBytes: number;
}

const setup = workerData as ChunkReaderSetup;
const baseKey = new Uint8Array(setup.baseKey);
const packs = new PackReader(setup.stickDir, setup.chunkSize);
const port = parentPort;
if (port === null) throw new Error("chunk-reader-worker must run as a worker thread");

function failure(err: unknown): ChunkResult {
  if (err instanceof ChunkDecodeError) return { decode: err.message };
  if (err instanceof ChunkInvalidError) return { invalid: { where: err.where, why: err.why } };
  if (err instanceof CorruptStickError) return { corrupt: err.message };
  if (err instanceof StickvmError) return { stick: { code: err.code, message: err.message } };
  return { bug: String(err) };
}

port.on("message", (run: ChunkRun) => {
  const done: RunResult = { seq: run.seq, results: [], stickReads: 0, stickBytes: 0 };
  // read on the first need only (cache hits need none), and once: a failed read fails each chunk with its error
  let span: Buffer | { failed: unknown } | undefined;
  const spanBytes = (): Buffer => {
    if (span === undefined) {
      done.stickReads++;
      try {
        span = packs.readSpan(run.span.pack, run.span.offset, run.span.length);
        done.stickBytes += span.length;
      } catch (err) {
        span = { failed: err };
      }
    }
    if ("failed" in span) throw span.failed;
    return span;
  };
  const transfer: ArrayBuffer[] = [];
  for (const job of run.jobs) {
    const fromStick = (): Buffer => {
      packs.checkLength(job.id, job.loc);
      return packs.recordIn(job.id, job.loc, spanBytes().subarray(job.loc.offset - run.span.offset));
    };
    const open = (sealed: Buffer): Buffer => openChunk(baseKey, job.id, sealed, setup.chunkSize);
    const cache: CacheReport | undefined = job.cache && { from: "stick", bytes: 0 };
    try {
      const plain = job.cache && cache ? readThroughCache(job.cache, job.id, cache, fromStick, open) : open(fromStick());
      // only memory of its own may be transferred
      const own = plain.byteOffset === 0 && plain.byteLength === plain.buffer.byteLength ? plain : ownedCopy(plain);
      const result = { plain: own.buffer as ArrayBuffer, cache } satisfies ChunkResult;
      transfer.push(result.plain);
      done.results.push(result);
    } catch (err) {
      done.results.push({ ...failure(err), cache });
    }
  }
  port.postMessage(done, transfer);
});
