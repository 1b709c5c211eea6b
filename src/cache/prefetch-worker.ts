import { existsSync } from "node:fs";
import { parentPort, workerData } from "node:worker_threads";
import { ChunkDecodeError, openChunkPayload } from "../chunkstore/chunk-codec.js";
import { PackReader } from "../chunkstore/pack-reader.js";
import { ChunkInvalidError } from "../errors/errors.js";
import { entryPath, writeEntry, writeFailure, type WriteFailure } from "./entry-files.js";
import type { PrefetchSpan } from "./prefetch-plan.js";

// Worker thread of a boot prefetch: reads the planned spans of the stick in order, checks each
// record's seal (not inflating it: nobody waits for the plaintext) and stores it in the host
// cache. Before each read it waits while the guest has reads of the stick in flight, so that the
// guest's reads go first.

export interface PrefetchSetup {
  stickDir: string;
  chunkSize: number;
  baseKey: SharedArrayBuffer;
  cacheDir: string;
  /** [0]: the reader pool's urgent reads of the stick in flight; the pool notifies when it drops. */
  urgent: SharedArrayBuffer;
  /** [0]: set to 1 by the owner to stop after the current span. */
  stop: SharedArrayBuffer;
  spans: PrefetchSpan[];
}

/** What one span gave, posted as it is done (`span` is its index in the plan). */
export interface SpanResult {
  span: number;
  /** The bytes read from the stick (0: every chunk was in the cache already). */
  readBytes: number;
  stored: { id: Uint8Array; bytes: number }[];
  /** Chunks whose records did not check out: left for the guest's read to report. */
  bad: number;
  /** The read failed (a pulled stick, an I/O error): the prefetch ends. */
  readFailed?: string;
  /** Storing failed (a full host disk): the cache goes off and the prefetch ends. */
  storeFailed?: WriteFailure;
}

const setup = workerData as PrefetchSetup;
const port = parentPort;
if (port === null) throw new Error("prefetch-worker must run as a worker thread");
const baseKey = new Uint8Array(setup.baseKey);
const urgent = new Int32Array(setup.urgent);
const stop = new Int32Array(setup.stop);
const packs = new PackReader(setup.stickDir, setup.chunkSize);

/** Waits while the guest reads the stick; false once asked to stop. */
function yieldToGuest(): boolean {
  for (;;) {
    if (Atomics.load(stop, 0) !== 0) return false;
    const inFlight = Atomics.load(urgent, 0);
    if (inFlight <= 0) return true;
    // woken by the pool's notify, or a poll now and then for the stop flag
    Atomics.wait(urgent, 0, inFlight, 50);
  }
}

function fetchSpan(index: number, span: PrefetchSpan): SpanResult {
  const result: SpanResult = { span: index, readBytes: 0, stored: [], bad: 0 };
  const missing = span.chunks.filter((c) => !existsSync(entryPath(setup.cacheDir, c.id)));
  if (missing.length === 0) return result;
  let bytes: Buffer;
  try {
    bytes = packs.readSpan(span.pack, span.offset, span.length);
  } catch (err) {
    result.readFailed = (err as Error).message;
    return result;
  }
  result.readBytes = bytes.length;
  for (const c of missing) {
    let sealed: Buffer;
    try {
      packs.checkLength(c.id, c.loc);
      sealed = packs.recordIn(c.id, c.loc, bytes.subarray(c.loc.offset - span.offset));
      openChunkPayload(baseKey, c.id, sealed);
    } catch (err) {
      if (!(err instanceof ChunkDecodeError) && !(err instanceof ChunkInvalidError)) throw err;
      result.bad++;
      continue;
    }
    try {
      writeEntry(setup.cacheDir, c.id, sealed);
    } catch (err) {
      result.storeFailed = writeFailure(err);
      return result;
    }
    result.stored.push({ id: c.id, bytes: sealed.length });
  }
  return result;
}

for (const [index, span] of setup.spans.entries()) {
  if (!yieldToGuest()) break;
  const result = fetchSpan(index, span);
  port.postMessage(result);
  if (result.readFailed !== undefined || result.storeFailed !== undefined) break;
}
port.postMessage("done");
