import { closeSync, openSync, readSync } from "node:fs";
import { parentPort, workerData } from "node:worker_threads";
import { CHUNK_ID_BYTES } from "../../stick-layout/format.js";
import { entryPath } from "./entry-files.js";

// Worker thread of a cache warm-up: reads the host cache's entries of a boot profile's chunks,
// in the profile's order, and throws the bytes away. What it leaves is the entries in the host's
// page cache, so that the reader threads, which open each entry when the guest asks for it,
// find them there instead of waiting for the host disk one small file at a time.

export interface WarmSetup {
  cacheDir: string;
  /** The chunks' ids, CHUNK_ID_BYTES each, in the order to read them. */
  ids: Uint8Array;
  /** [0]: set to 1 by the owner to stop. */
  stop: SharedArrayBuffer;
}

/** Posted once at the end: entries read (a missing one, evicted meanwhile, is skipped) and their bytes. */
export interface WarmResult {
  files: number;
  bytes: number;
}

const setup = workerData as WarmSetup;
const port = parentPort;
if (port === null) throw new Error("cache-warm-worker must run as a worker thread");
const stop = new Int32Array(setup.stop);
const sink = Buffer.allocUnsafe(256 * 1024);
const result: WarmResult = { files: 0, bytes: 0 };

for (let at = 0; at + CHUNK_ID_BYTES <= setup.ids.length && Atomics.load(stop, 0) === 0; at += CHUNK_ID_BYTES) {
  let fd: number;
  try {
    fd = openSync(entryPath(setup.cacheDir, setup.ids.subarray(at, at + CHUNK_ID_BYTES)), "r");
  } catch {
    continue; // gone: the reader that wants it reads the stick
  }
  try {
    for (let n = readSync(fd, sink); n > 0; n = readSync(fd, sink)) result.bytes += n;
    result.files++;
  } catch {
    // unreadable: the reader that wants it finds that out and re-fetches
  } finally {
    closeSync(fd);
  }
}
port.postMessage(result);
