import { availableParallelism } from "node:os";
import type { Worker } from "node:worker_threads";
import { spawnWorker } from "../util/spawn-worker.js";
import type { ChunkLocation } from "../../stick-layout/chunk-index.js";
import { ChunkInvalidError, CorruptStickError, StickvmError } from "../errors/errors.js";
import type { CacheJob, CacheReport } from "../cache/read-through.js";
import type { ChunkJob, ChunkReaderSetup, ChunkResult, ChunkRun, RunResult } from "./chunk-reader-worker.js";
import { describeLocation, maxRecordLength } from "./pack-reader.js";

/** Runs sent ahead to each thread, so that it never waits for the main thread between them. */
const RUNS_PER_THREAD = 2;

/** Chunks in one read of the stick at most: a guest waits for the whole run to be inflated. */
export const MAX_RUN_CHUNKS = 16;

/** Bytes between two records that are read through rather than read apart: cheaper than a second seek on a USB stick. */
export const MAX_RUN_GAP = 64 * 1024;

/** Reads of the stick the pool's threads made, and the bytes they read. */
export interface StickReads {
  reads: number;
  bytes: number;
}

/**
 * One core is left to the main thread, which answers NBD and deciphers the unpacked file: on two
 * cores a second inflating thread only took turns with it, and its isolate cost about 50 MB.
 */
export function defaultReaderThreads(): number {
  return Math.min(4, Math.max(1, availableParallelism() - 1));
}

/** The host cache as the pool sees it (HostCache): what to tell a thread per chunk, and what it reported. */
export interface ReaderCache {
  job(id: Uint8Array): CacheJob;
  settle(id: Uint8Array, report: CacheReport): void;
}

interface Pending {
  job: ChunkJob;
  resolve: (plain: Buffer) => void;
  reject: (err: Error) => void;
}

interface Thread {
  worker: Worker;
  running: Map<number, Pending[]>;
  /** Runs in `running` that a guest waits on and that read the stick. */
  urgentReads: Set<number>;
}

/**
 * Reads and decodes chunks on worker threads: each reads a chunk's pack record, opens its
 * seal and inflates it, so that serving uses every core and the main thread only answers
 * NBD requests. Urgent jobs (a guest waits for them) go before background ones (read-ahead).
 * Chunks of one priority asked for in one turn of the event loop whose records lie close
 * together in a pack (and are not in the host cache) go to a thread as one run, read from the
 * stick with one pread. A bad record rejects with ChunkInvalidError naming its pack and offset,
 * and fails only its own chunk. With a host cache, the threads read through it
 * (src/cache/read-through.ts) and the cache hears what they did.
 */
export class ChunkReaderPool {
  private readonly threads: Thread[] = [];
  private readonly urgent: Pending[] = [];
  private readonly background: Pending[] = [];
  private readonly baseKey: Uint8Array;
  private readonly maxRecord: number;
  private readonly reads: StickReads = { reads: 0, bytes: 0 };
  /**
   * [0]: runs in flight that a guest waits on and that read the stick, shared with a boot
   * prefetch (src/cache/prefetch-worker.ts), which waits while it is above zero.
   */
  readonly urgentStickReads = new Int32Array(new SharedArrayBuffer(4));
  private seq = 0;
  private dispatching = false;
  private failure: Error | undefined;

  constructor(
    stickDir: string,
    chunkSize: number,
    baseKey: Uint8Array,
    threads = defaultReaderThreads(),
    private readonly cache?: ReaderCache,
  ) {
    const shared = new SharedArrayBuffer(baseKey.length);
    this.baseKey = new Uint8Array(shared);
    this.baseKey.set(baseKey);
    this.maxRecord = maxRecordLength(chunkSize);
    const setup: ChunkReaderSetup = { stickDir, chunkSize, baseKey: shared };
    for (let i = 0; i < threads; i++) {
      const t: Thread = { worker: spawnWorker(new URL("./chunk-reader-worker.js", import.meta.url), setup), running: new Map(), urgentReads: new Set() };
      t.worker.on("message", (r: RunResult) => {
        this.finish(t, r);
      });
      t.worker.on("error", (err) => {
        this.failure = new Error(`a chunk reading thread stopped: ${err.message}`);
        this.rejectAll(this.failure);
      });
      // an idle pool does not keep the process alive
      t.worker.unref();
      this.threads.push(t);
    }
  }

  /** The reads of the stick so far (a host cache hit makes none). */
  get stickReads(): StickReads {
    return { ...this.reads };
  }

  /** The plaintext of the chunk `id`, whose record the index places at `loc`. */
  read(id: Uint8Array, loc: ChunkLocation, urgent: boolean): Promise<Buffer> {
    if (this.failure) return Promise.reject(this.failure);
    // copies: a view of the manifest or an index entry's id would take the whole buffer under it through the clone
    const job: ChunkJob = { id: Uint8Array.from(id), loc: { pack: loc.pack, offset: loc.offset, length: loc.length } };
    if (this.cache) job.cache = this.cache.job(id);
    return new Promise((resolve, reject) => {
      (urgent ? this.urgent : this.background).push({ job, resolve, reject });
      // after this turn: the other chunks of the same guest read are queued by then, to join a run
      if (!this.dispatching) {
        this.dispatching = true;
        queueMicrotask(() => {
          this.dispatching = false;
          this.dispatch();
        });
      }
    });
  }

  private dispatch(): void {
    for (;;) {
      const t = this.threads.reduce((a, b) => (b.running.size < a.running.size ? b : a));
      if (t.running.size >= RUNS_PER_THREAD) return;
      const urgent = this.urgent.length > 0;
      const queue = urgent ? this.urgent : this.background;
      const head = queue.shift();
      if (head === undefined) return;
      const run = this.gather(head, queue);
      const first = Math.min(...run.map((p) => p.job.loc.offset));
      const end = Math.max(...run.map((p) => p.job.loc.offset + p.job.loc.length));
      const message: ChunkRun = { seq: this.seq++, jobs: run.map((p) => p.job), span: { pack: head.job.loc.pack, offset: first, length: end - first } };
      t.running.set(message.seq, run);
      if (urgent && run.some((p) => p.job.cache?.cached !== true)) {
        t.urgentReads.add(message.seq);
        Atomics.add(this.urgentStickReads, 0, 1);
      }
      if (t.running.size === 1) t.worker.ref();
      t.worker.postMessage(message);
    }
  }

  /** Where a job may join a run: a stick read of a length a record can have. */
  private joins(p: Pending): boolean {
    return p.job.cache?.cached !== true && p.job.loc.length <= this.maxRecord;
  }

  /**
   * `head` and the jobs of `queue` (taken out of it) whose records form a chain around it in
   * its pack, each starting at most MAX_RUN_GAP after the one before ends, within the caps.
   */
  private gather(head: Pending, queue: Pending[]): Pending[] {
    if (!this.joins(head)) return [head];
    const near = queue.filter((p) => p.job.loc.pack === head.job.loc.pack && this.joins(p));
    if (near.length === 0) return [head];
    const byOffset = [head, ...near].sort((a, b) => a.job.loc.offset - b.job.loc.offset);
    const maxBytes = MAX_RUN_CHUNKS * this.maxRecord;
    let lo = byOffset.indexOf(head);
    let hi = lo;
    let start = head.job.loc.offset;
    let end = start + head.job.loc.length;
    // forward first: guests mostly read forward
    for (; hi + 1 < byOffset.length && hi - lo + 1 < MAX_RUN_CHUNKS; hi++) {
      const next = byOffset[hi + 1]?.job.loc;
      if (next === undefined || next.offset > end + MAX_RUN_GAP || Math.max(end, next.offset + next.length) - start > maxBytes) break;
      end = Math.max(end, next.offset + next.length);
    }
    for (; lo > 0 && hi - lo + 1 < MAX_RUN_CHUNKS; lo--) {
      const prev = byOffset[lo - 1]?.job.loc;
      if (prev === undefined || prev.offset + prev.length + MAX_RUN_GAP < start || end - prev.offset > maxBytes) break;
      start = prev.offset;
    }
    const run = byOffset.slice(lo, hi + 1);
    const taken = new Set(run);
    const rest = queue.filter((p) => !taken.has(p));
    queue.length = 0;
    queue.push(...rest);
    return run;
  }

  private finish(t: Thread, r: RunResult): void {
    const run = t.running.get(r.seq);
    t.running.delete(r.seq);
    if (t.urgentReads.delete(r.seq)) this.urgentDone(1);
    if (t.running.size === 0) t.worker.unref();
    this.reads.reads += r.stickReads;
    this.reads.bytes += r.stickBytes;
    run?.forEach((p, i) => {
      const result = r.results[i];
      if (result === undefined) {
        p.reject(new Error("a chunk reading thread left a chunk of its run unanswered"));
        return;
      }
      if (result.cache) this.cache?.settle(p.job.id, result.cache);
      if ("plain" in result) p.resolve(Buffer.from(result.plain));
      else p.reject(resultError(p.job, result));
    });
    this.dispatch();
  }

  private urgentDone(runs: number): void {
    Atomics.sub(this.urgentStickReads, 0, runs);
    Atomics.notify(this.urgentStickReads, 0);
  }

  private rejectAll(err: Error): void {
    for (const p of [...this.urgent, ...this.background, ...this.threads.flatMap((t) => [...t.running.values()].flat())]) p.reject(err);
    this.urgent.length = 0;
    this.background.length = 0;
    for (const t of this.threads) {
      t.running.clear();
      this.urgentDone(t.urgentReads.size);
      t.urgentReads.clear();
    }
  }

  /** Stops the threads and overwrites the key they shared. */
  async close(): Promise<void> {
    this.failure ??= new Error("the chunk reader is closed");
    this.rejectAll(this.failure);
    this.baseKey.fill(0);
    await Promise.all(this.threads.map((t) => t.worker.terminate()));
  }
}

/** The typed error a worker's failure stands for. */
function resultError(job: ChunkJob, r: Exclude<ChunkResult, { plain: ArrayBuffer }>): Error {
  const idHex = Buffer.from(job.id).toString("hex");
  if ("decode" in r) return new ChunkInvalidError(idHex, describeLocation(job.loc), r.decode);
  if ("invalid" in r) return new ChunkInvalidError(idHex, r.invalid.where, r.invalid.why);
  if ("corrupt" in r) return new CorruptStickError(r.corrupt);
  if ("stick" in r) return new StickvmError(r.stick.code, r.stick.message);
  return new Error(`reading a chunk failed: ${r.bug}`);
}
