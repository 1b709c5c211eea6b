import { posix } from "node:path";
import { getAsset, isSea } from "node:sea";
import { Worker } from "node:worker_threads";

/**
 * Starts a worker thread on `script`, a compiled module next to the caller
 * (`new URL("./x-worker.js", import.meta.url)`). Inside the single executable no such
 * file exists: the build stores each worker's bundled code as a SEA asset named after
 * the file (scripts/exe/build-exe.ts, which finds the workers by this call's form: keep the
 * URL literal in the call), and the thread runs that code.
 */
export function spawnWorker(script: URL, workerData: unknown): Worker {
  if (!isSea()) return new Worker(script, { workerData });
  return new Worker(getAsset(posix.basename(script.pathname), "utf8"), { eval: true, workerData });
}
