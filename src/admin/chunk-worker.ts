import { parentPort, workerData } from "node:worker_threads";
import { chunkId, encodeChunk } from "../chunkstore/chunk-codec.js";

// Worker thread of the build: hashes, compresses and seals the chunks of one batch.
export interface ChunkWorkerSetup {
  baseKey: Uint8Array;
  chunkIdKey: Uint8Array;
  chunkSize: number;
  level: number;
}

/**
 * A batch travels as three buffers that are transferred, not copied, and come back to be
 * used again: `input` (the image bytes, whole chunks), `ids` (32 bytes a chunk) and `sealed`
 * (room for every chunk sealed uncompressed), so a build allocates no buffer per batch.
 */
export interface Batch {
  seq: number;
  /** Bytes of `input` that hold image data. */
  length: number;
  input: ArrayBuffer;
  ids: ArrayBuffer;
  sealed: ArrayBuffer;
  /** Filled in by the worker: the sealed length of each chunk; 0 marks an all-zero chunk (not stored, id bytes zero). */
  sealedLengths: number[];
}

const setup = workerData as ChunkWorkerSetup;
const zeros = Buffer.alloc(setup.chunkSize);
const port = parentPort;
if (port === null) throw new Error("chunk-worker must run as a worker thread");

port.on("message", (batch: Batch) => {
  const input = Buffer.from(batch.input, 0, batch.length);
  const ids = Buffer.from(batch.ids);
  const sealedOut = Buffer.from(batch.sealed);
  const count = batch.length / setup.chunkSize;
  let at = 0;
  batch.sealedLengths = [];
  for (let i = 0; i < count; i++) {
    const plain = input.subarray(i * setup.chunkSize, (i + 1) * setup.chunkSize);
    if (plain.equals(zeros)) {
      ids.fill(0, i * 32, (i + 1) * 32);
      batch.sealedLengths.push(0);
      continue;
    }
    const id = chunkId(setup.chunkIdKey, plain);
    id.copy(ids, i * 32);
    const sealed = encodeChunk(setup.baseKey, id, plain, setup.level);
    at += sealed.copy(sealedOut, at);
    batch.sealedLengths.push(sealed.length);
  }
  port.postMessage(batch, [batch.input, batch.ids, batch.sealed]);
});
