import { availableParallelism } from "node:os";
import type { Worker } from "node:worker_threads";
import { spawnWorker } from "../util/spawn-worker.js";
import type { ChunkLocation } from "../../stick-layout/chunk-index.js";
import { ChunkInvalidError, CorruptStickError, StickvmError } from "../errors/errors.js";
import type { CacheJob, CacheReport } from "../cache/read-through.js";
import type { ChunkJob, ChunkReaderSetup, ChunkResult } from "./chunk-reader-worker.js";
import { describeLocation } from "./pack-reader.js";

/** Jobs sent ahead to each thread, so that it never waits for the main thread between chunks. */
const JOBS_PER_THREAD = 2;

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
  running: Map<number, Pending>;
}

/**
 * Reads and decodes chunks on worker threads: each reads a chunk's pack record, opens its
 * seal and inflates it, so that serving uses every core and the main thread only answers
 * NBD requests. Urgent jobs (a guest waits for them) go before background ones (read-ahead).
 * A bad record rejects with ChunkInvalidError naming its pack and offset. With a host cache,
 * the threads read through it (src/cache/read-through.ts) and the cache hears what they did.
 */
export class ChunkReaderPool {
  private readonly threads: Thread[] = [];
  private readonly urgent: Pending[] = [];
  private readonly background: Pending[] = [];
  private readonly baseKey: Uint8Array;
  private seq = 0;
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
    const setup: ChunkReaderSetup = { stickDir, chunkSize, baseKey: shared };
    for (let i = 0; i < threads; i++) {
      const t: Thread = { worker: spawnWorker(new URL("./chunk-reader-worker.js", import.meta.url), setup), running: new Map() };
      t.worker.on("message", (r: ChunkResult) => {
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

  /** The plaintext of the chunk `id`, whose record the index places at `loc`. */
  read(id: Uint8Array, loc: ChunkLocation, urgent: boolean): Promise<Buffer> {
    if (this.failure) return Promise.reject(this.failure);
    // copies: a view of the manifest or an index entry's id would take the whole buffer under it through the clone
    const job: ChunkJob = { seq: this.seq++, id: Uint8Array.from(id), loc: { pack: loc.pack, offset: loc.offset, length: loc.length } };
    if (this.cache) job.cache = this.cache.job(id);
    return new Promise((resolve, reject) => {
      (urgent ? this.urgent : this.background).push({ job, resolve, reject });
      this.dispatch();
    });
  }

  private dispatch(): void {
    for (;;) {
      const t = this.threads.reduce((a, b) => (b.running.size < a.running.size ? b : a));
      if (t.running.size >= JOBS_PER_THREAD) return;
      const next = this.urgent.shift() ?? this.background.shift();
      if (next === undefined) return;
      t.running.set(next.job.seq, next);
      if (t.running.size === 1) t.worker.ref();
      t.worker.postMessage(next.job);
    }
  }

  private finish(t: Thread, r: ChunkResult): void {
    const p = t.running.get(r.seq);
    t.running.delete(r.seq);
    if (t.running.size === 0) t.worker.unref();
    if (p !== undefined) {
      if (r.cache) this.cache?.settle(p.job.id, r.cache);
      if ("plain" in r) p.resolve(Buffer.from(r.plain));
      else p.reject(resultError(p.job, r));
    }
    this.dispatch();
  }

  private rejectAll(err: Error): void {
    for (const p of [...this.urgent, ...this.background, ...this.threads.flatMap((t) => [...t.running.values()])]) p.reject(err);
    this.urgent.length = 0;
    this.background.length = 0;
    for (const t of this.threads) t.running.clear();
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
