import { Worker } from "node:worker_threads";
import type { BatchRequest, BatchResult, ChunkWorkerSetup } from "./chunk-worker.js";

/** A pool of chunk workers; `encode` hands a batch to the least busy one. */
export class ChunkPipeline {
  private readonly workers: { worker: Worker; busy: number }[] = [];
  private readonly waiting = new Map<number, { resolve: (r: BatchResult) => void; reject: (e: Error) => void }>();
  private seq = 0;
  private failure: Error | undefined;

  constructor(setup: ChunkWorkerSetup, threads: number) {
    for (let i = 0; i < threads; i++) {
      const worker = new Worker(new URL("./chunk-worker.js", import.meta.url), { workerData: setup });
      const slot = { worker, busy: 0 };
      worker.on("message", (r: BatchResult) => {
        slot.busy -= 1;
        const w = this.waiting.get(r.seq);
        this.waiting.delete(r.seq);
        w?.resolve(r);
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

  /** Transfers `batch` (a buffer of its own) to a worker; it must not be used afterwards. */
  encode(batch: Buffer): Promise<BatchResult> {
    if (this.failure) return Promise.reject(this.failure);
    const slot = this.workers.reduce((a, b) => (b.busy < a.busy ? b : a));
    const seq = this.seq++;
    slot.busy += 1;
    return new Promise((resolve, reject) => {
      this.waiting.set(seq, { resolve, reject });
      const req: BatchRequest = { seq, data: batch.buffer as ArrayBuffer };
      slot.worker.postMessage(req, [req.data]);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
  }
}
