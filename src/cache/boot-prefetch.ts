import type { Worker } from "node:worker_threads";
import { spawnWorker } from "../util/spawn-worker.js";
import type { HostCache } from "./host-cache.js";
import type { PrefetchSpan } from "./prefetch-plan.js";
import type { PrefetchSetup, SpanResult } from "./prefetch-worker.js";

/** What a boot prefetch did. */
export interface PrefetchStats {
  /** Spans planned, and reads of the stick made (a span whose chunks were all cached by then needs none). */
  spans: number;
  reads: number;
  readBytes: number;
  /** Chunks stored in the cache. */
  stored: number;
  /** Records that did not check out (left for the guest's read to report). */
  bad: number;
  /** Every span was done (not stopped by the session's end, a failed read or a full host disk). */
  complete: boolean;
}

/** One read of the stick a prefetch made, in order (for `--stats` and the tests that check it reads front to back). */
export interface PrefetchRead {
  pack: number;
  offset: number;
  length: number;
}

export interface PrefetchOptions {
  stickDir: string;
  chunkSize: number;
  baseKey: Uint8Array;
  cache: HostCache;
  /** The reader pool's count of guest reads of the stick in flight (ChunkReaderPool.urgentStickReads). */
  urgentStickReads: Int32Array;
  spans: PrefetchSpan[];
  warn: (message: string) => void;
  onRead?: (read: PrefetchRead) => void;
}

/**
 * A boot prefetch in the background: a thread of its own reads the planned spans front to back
 * (yielding to the guest's reads of the stick) and stores the chunks in the host cache, which
 * hears of each one here. `done` resolves when it ends, whatever ended it; it never rejects.
 */
export class BootPrefetch {
  readonly done: Promise<PrefetchStats>;
  private readonly stopFlag = new Int32Array(new SharedArrayBuffer(4));
  private readonly key: Uint8Array;
  private readonly worker: Worker;
  private readonly stats: PrefetchStats;

  constructor(o: PrefetchOptions) {
    this.stats = { spans: o.spans.length, reads: 0, readBytes: 0, stored: 0, bad: 0, complete: false };
    const keyBuffer = new SharedArrayBuffer(o.baseKey.length);
    this.key = new Uint8Array(keyBuffer);
    this.key.set(o.baseKey);
    const setup: PrefetchSetup = {
      stickDir: o.stickDir,
      chunkSize: o.chunkSize,
      baseKey: keyBuffer,
      cacheDir: o.cache.dir,
      urgent: o.urgentStickReads.buffer as SharedArrayBuffer,
      stop: this.stopFlag.buffer,
      spans: o.spans,
    };
    this.worker = spawnWorker(new URL("./prefetch-worker.js", import.meta.url), setup);
    let done = 0;
    this.done = new Promise((resolve) => {
      const finish = (): void => {
        this.key.fill(0);
        this.stats.complete = done === o.spans.length;
        resolve({ ...this.stats });
      };
      this.worker.on("message", (m: SpanResult | "done") => {
        if (m === "done") {
          finish();
          return;
        }
        done++;
        const span = o.spans[m.span];
        if (m.readBytes > 0 && span !== undefined) {
          this.stats.reads++;
          this.stats.readBytes += m.readBytes;
          o.onRead?.({ pack: span.pack, offset: span.offset, length: m.readBytes });
        }
        for (const c of m.stored) o.cache.notePrefetched(c.id, c.bytes);
        this.stats.stored += m.stored.length;
        this.stats.bad += m.bad;
        if (m.readFailed !== undefined) o.warn(`the boot prefetch stopped: ${m.readFailed}`);
        if (m.storeFailed !== undefined) o.cache.noteStoreFailed(m.storeFailed);
      });
      this.worker.on("error", (err) => {
        o.warn(`the boot prefetch stopped: ${err.message}`);
      });
      // after "done", an error, or a terminate: whichever came first settles it
      this.worker.on("exit", finish);
    });
  }

  snapshot(): PrefetchStats {
    return { ...this.stats };
  }

  /** Asks the thread to stop after its current span, waits for it, and ends it. */
  async stop(): Promise<PrefetchStats> {
    Atomics.store(this.stopFlag, 0, 1);
    const stats = await this.done;
    await this.worker.terminate();
    return stats;
  }
}
