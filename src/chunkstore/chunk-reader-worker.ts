import { parentPort, workerData } from "node:worker_threads";
import type { ChunkLocation } from "../../stick-layout/chunk-index.js";
import { ChunkInvalidError, CorruptStickError, StickvmError, type ErrorCode } from "../errors/errors.js";
import { ownedCopy } from "../util/bytes.js";
import { readThroughCache, type CacheJob, type CacheReport } from "../cache/read-through.js";
import { ChunkDecodeError, openChunk } from "./chunk-codec.js";
import { PackReader } from "./pack-reader.js";

// Worker thread of the serve path: reads a chunk's pack record, opens and inflates it.
export interface ChunkReaderSetup {
  stickDir: string;
  chunkSize: number;
  /** The base key, shared so that the owner's wipe reaches this thread's copy too. */
  baseKey: SharedArrayBuffer;
}

export interface ChunkJob {
  seq: number;
  id: Uint8Array;
  loc: ChunkLocation;
  /** Read through the host cache (absent: straight from the stick). */
  cache?: CacheJob;
}

/**
 * The plaintext in a transferred buffer, or why there is none (errors cross threads as plain
 * data, so each kind the reader throws travels with what rebuilds it): `decode` when the
 * record is there but does not decode, `invalid` and `corrupt` for those typed errors, `stick`
 * for another typed error (its code and message), `bug` for anything else.
 */
export type ChunkResult = (
  | { seq: number; plain: ArrayBuffer }
  | { seq: number; decode: string }
  | { seq: number; invalid: { where: string; why: string } }
  | { seq: number; corrupt: string }
  | { seq: number; stick: { code: ErrorCode; message: string } }
  | { seq: number; bug: string }
) & { cache?: CacheReport | undefined };

const setup = workerData as ChunkReaderSetup;
const baseKey = new Uint8Array(setup.baseKey);
const packs = new PackReader(setup.stickDir, setup.chunkSize);
const port = parentPort;
if (port === null) throw new Error("chunk-reader-worker must run as a worker thread");

function failure(seq: number, err: unknown): ChunkResult {
  if (err instanceof ChunkDecodeError) return { seq, decode: err.message };
  if (err instanceof ChunkInvalidError) return { seq, invalid: { where: err.where, why: err.why } };
  if (err instanceof CorruptStickError) return { seq, corrupt: err.message };
  if (err instanceof StickvmError) return { seq, stick: { code: err.code, message: err.message } };
  return { seq, bug: String(err) };
}

port.on("message", (job: ChunkJob) => {
  const fromStick = (): Buffer => packs.readRecord(job.id, job.loc);
  const open = (sealed: Buffer): Buffer => openChunk(baseKey, job.id, sealed, setup.chunkSize);
  const cache: CacheReport | undefined = job.cache && { from: "stick", bytes: 0 };
  let plain: Buffer;
  try {
    plain = job.cache && cache ? readThroughCache(job.cache, job.id, cache, fromStick, open) : open(fromStick());
  } catch (err) {
    port.postMessage({ ...failure(job.seq, err), cache });
    return;
  }
  // only memory of its own may be transferred
  const own = plain.byteOffset === 0 && plain.byteLength === plain.buffer.byteLength ? plain : ownedCopy(plain);
  const result = { seq: job.seq, plain: own.buffer as ArrayBuffer, cache } satisfies ChunkResult;
  port.postMessage(result, [result.plain]);
});
