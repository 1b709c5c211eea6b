import { parentPort, workerData } from "node:worker_threads";
import { chunkId, encodeChunk } from "../chunkstore/chunk-codec.js";

// Worker thread of the build: hashes, compresses and seals the chunks of one batch.
export interface ChunkWorkerSetup {
  baseKey: Uint8Array;
  chunkIdKey: Uint8Array;
  chunkSize: number;
  level: number;
}

export interface BatchRequest {
  seq: number;
  data: ArrayBuffer;
}

/**
 * A batch's results in two transferable buffers: `ids` holds 32 bytes per chunk, `sealed` the
 * sealed chunks back to back with their lengths in `sealedLengths`; length 0 marks an
 * all-zero chunk, which is not stored (its id bytes are zero).
 */
export interface BatchResult {
  seq: number;
  ids: ArrayBuffer;
  sealed: ArrayBuffer;
  sealedLengths: number[];
}

const setup = workerData as ChunkWorkerSetup;
const zeros = Buffer.alloc(setup.chunkSize);
const port = parentPort;
if (port === null) throw new Error("chunk-worker must run as a worker thread");

port.on("message", (req: BatchRequest) => {
  const data = Buffer.from(req.data);
  const count = Math.ceil(data.length / setup.chunkSize);
  const ids = Buffer.allocUnsafeSlow(count * 32).fill(0);
  const parts: Buffer[] = [];
  const sealedLengths: number[] = [];
  for (let i = 0; i < count; i++) {
    const plain = data.subarray(i * setup.chunkSize, (i + 1) * setup.chunkSize);
    if (plain.equals(zeros)) {
      sealedLengths.push(0);
      continue;
    }
    const id = chunkId(setup.chunkIdKey, plain);
    id.copy(ids, i * 32);
    const sealed = encodeChunk(setup.baseKey, id, plain, setup.level);
    parts.push(sealed);
    sealedLengths.push(sealed.length);
  }
  // allocUnsafeSlow: a buffer of its own, never a slice of Node's shared pool, so it can be transferred.
  const total = parts.reduce((n, p) => n + p.length, 0);
  const sealed = Buffer.allocUnsafeSlow(total);
  let at = 0;
  for (const p of parts) at += p.copy(sealed, at);
  const result: BatchResult = { seq: req.seq, ids: ids.buffer, sealed: sealed.buffer, sealedLengths };
  port.postMessage(result, [result.ids, result.sealed]);
});
