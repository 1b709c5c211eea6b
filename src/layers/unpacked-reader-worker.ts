import { parentPort, workerData } from "node:worker_threads";
import { readDeciphered, type UnpackedKey } from "./unpacked-cipher.js";

// The unpacked reader thread: reads ranges of the unpacked file and deciphers them into shared
// memory the main thread sends the replies from (unpacked-reader.ts).

export interface UnpackedReaderSetup {
  fd: number;
  /** Key and nonce, shared so that the owner's wipe reaches this thread's copy too. */
  key: SharedArrayBuffer;
  nonce: Uint8Array;
}

export interface UnpackedRead {
  id: number;
  offset: number;
  /** Where the plaintext goes: a view of shared memory. */
  into: Uint8Array;
}

/** A batch's outcome: the ids done, and the ids that failed with their message. */
export interface UnpackedReadsDone {
  done: number[];
  failed: { id: number; message: string }[];
}

const setup = workerData as UnpackedReaderSetup;
const k: UnpackedKey = { key: new Uint8Array(setup.key), nonce: setup.nonce };
const scratch = new Uint8Array(1024 * 1024);
const port = parentPort;
if (port === null) throw new Error("unpacked-reader-worker must run as a worker thread");

port.on("message", (batch: UnpackedRead[]) => {
  const out: UnpackedReadsDone = { done: [], failed: [] };
  for (const r of batch) {
    try {
      readDeciphered(setup.fd, k, r.offset, r.into, scratch);
      out.done.push(r.id);
    } catch (err) {
      out.failed.push({ id: r.id, message: err instanceof Error ? err.message : String(err) });
    }
  }
  port.postMessage(out);
});
