import type { Worker } from "node:worker_threads";
import { spawnWorker } from "../util/spawn-worker.js";
import { AEAD_OVERHEAD } from "../crypto/aead.js";
import type { Batch, ChunkWorkerSetup } from "./chunk-worker.js";

/**
 * A pool of chunk workers and the batch buffers they share. `submit` hands a batch to the
 * least busy worker; once its results are used, `release` returns its buffers to the pool.
 * The pool holds `depth` batches, which bounds the memory of a build whatever the image size.
 */
export class ChunkPipeline {
  private readonly workers: { worker: Worker; busy: number }[] = [];
  private readonly waiting = new Map<number, { resolve: (b: Batch) => void; reject: (e: Error) => void }>();
  private readonly free: Batch[] = [];
  private seq = 0;
  private failure: Error | undefined;

  constructor(
    setup: ChunkWorkerSetup,
    threads: number,
    readonly batchBytes: number,
    depth: number,
  ) {
    const chunks = batchBytes / setup.chunkSize;
    for (let i = 0; i < depth; i++) {
      this.free.push({
        seq: -1,
        length: 0,
        input: new ArrayBuffer(batchBytes),
        ids: new ArrayBuffer(chunks * 32),
        // a chunk seals to at most itself, an encoding byte and the AEAD overhead
        sealed: new ArrayBuffer(chunks * (setup.chunkSize + 1 + AEAD_OVERHEAD)),
        sealedLengths: [],
      });
    }
    for (let i = 0; i < threads; i++) {
      const worker = spawnWorker(new URL("./chunk-worker.js", import.meta.url), setup);
      const slot = { worker, busy: 0 };
      worker.on("message", (b: Batch) => {
        slot.busy -= 1;
        const w = this.waiting.get(b.seq);
        this.waiting.delete(b.seq);
        w?.resolve(b);
      });
      worker.on("error", (err) => {
        this.fail(err);
      });
      this.workers.push(slot);
    }
  }

  private fail(err: Error): void {
    this.failure = err;
    for (const w of this.waiting.values()) w.reject(err);
    this.waiting.clear();
  }

  /** A free batch to fill, or undefined when all are in flight or waiting to be used. */
  take(): Batch | undefined {
    return this.free.pop();
  }

  release(batch: Batch): void {
    this.free.push(batch);
  }

  /** Sends a filled batch (its `input` holds `length` bytes, whole chunks) to a worker. */
  submit(batch: Batch): Promise<Batch> {
    if (this.failure) return Promise.reject(this.failure);
    const slot = this.workers.reduce((a, b) => (b.busy < a.busy ? b : a));
    batch.seq = this.seq++;
    slot.busy += 1;
    return new Promise((resolve, reject) => {
      this.waiting.set(batch.seq, { resolve, reject });
      slot.worker.postMessage(batch, [batch.input, batch.ids, batch.sealed]);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
  }
}
