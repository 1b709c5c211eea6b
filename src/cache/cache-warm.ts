import type { Worker } from "node:worker_threads";
import { spawnWorker } from "../util/spawn-worker.js";
import type { WarmResult, WarmSetup } from "./cache-warm-worker.js";

/**
 * Reads host cache entries ahead of the guest, in a thread of its own (cache-warm-worker.ts), so
 * that a warm start's reads of the cache are page-cache hits. Reading only moves bytes from the
 * host's disk to its page cache: nothing is decoded, nothing waits for it. `done` resolves with
 * what it read, or undefined if the thread failed; it never rejects.
 */
export class CacheWarm {
  readonly done: Promise<WarmResult | undefined>;
  private readonly stopFlag = new Int32Array(new SharedArrayBuffer(4));
  private readonly worker: Worker;

  constructor(cacheDir: string, ids: Uint8Array) {
    const setup: WarmSetup = { cacheDir, ids, stop: this.stopFlag.buffer };
    this.worker = spawnWorker(new URL("./cache-warm-worker.js", import.meta.url), setup);
    this.worker.unref();
    this.done = new Promise((resolve) => {
      this.worker.on("message", (r: WarmResult) => { resolve(r); });
      this.worker.on("error", () => { resolve(undefined); });
      this.worker.on("exit", () => { resolve(undefined); });
    });
  }

  /** Asks the thread to stop after the entry it is reading, and waits for it. */
  async stop(): Promise<WarmResult | undefined> {
    Atomics.store(this.stopFlag, 0, 1);
    const r = await this.done;
    await this.worker.terminate();
    return r;
  }
}
