import type { Worker } from "node:worker_threads";
import { spawnWorker } from "../util/spawn-worker.js";
import type { UnpackedRead, UnpackedReaderSetup, UnpackedReadsDone } from "./unpacked-reader-worker.js";

interface Pending {
  bytes: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

/**
 * Reads and deciphers ranges of the unpacked file on a thread of its own, into shared memory
 * (the NBD server's reply buffers), so that the main thread, which answers every NBD request,
 * does not spend itself on the file read and the cipher of a sequential read (they took about
 * half of it). Reads asked for in one turn of the event loop go to the thread as one message.
 * The thread starts on the first read; an idle one does not keep the process alive.
 */
export class UnpackedReader {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private batch: UnpackedRead[] = [];
  private nextId = 0;
  private queued = 0;
  private failure: Error | undefined;

  constructor(private readonly setup: UnpackedReaderSetup) {}

  /** False once the thread has failed: reads are then done by the caller. */
  get usable(): boolean {
    return this.failure === undefined;
  }

  /** Bytes asked for and not yet read: how far behind the thread is. */
  get queuedBytes(): number {
    return this.queued;
  }

  /** The plaintext of the file's bytes [offset, offset + into.length), into `into`, a view of shared memory. */
  read(offset: number, into: Uint8Array): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    const done = new Promise<void>((resolve, reject) => {
      this.pending.set(id, { bytes: into.length, resolve, reject });
    });
    this.queued += into.length;
    if (this.batch.length === 0) {
      queueMicrotask(() => {
        this.send();
      });
    }
    this.batch.push({ id, offset, into });
    return done;
  }

  private send(): void {
    const batch = this.batch;
    this.batch = [];
    if (this.failure) {
      for (const r of batch) this.settle(r.id, this.failure);
      return;
    }
    const worker = this.thread();
    worker.ref();
    worker.postMessage(batch);
  }

  private thread(): Worker {
    if (this.worker === undefined) {
      const worker = spawnWorker(new URL("./unpacked-reader-worker.js", import.meta.url), this.setup);
      worker.on("message", (r: UnpackedReadsDone) => {
        for (const id of r.done) this.settle(id);
        for (const f of r.failed) this.settle(f.id, new Error(f.message));
        if (this.pending.size === 0) worker.unref();
      });
      worker.on("error", (err) => {
        this.stop(new Error(`the unpacked reader thread stopped: ${err.message}`));
      });
      this.worker = worker;
    }
    return this.worker;
  }

  private settle(id: number, err?: Error): void {
    const p = this.pending.get(id);
    if (p === undefined) return;
    this.pending.delete(id);
    this.queued -= p.bytes;
    if (err === undefined) p.resolve();
    else p.reject(err);
  }

  private stop(err: Error): void {
    this.failure ??= err;
    this.batch = [];
    for (const id of [...this.pending.keys()]) this.settle(id, this.failure);
  }

  /** Fails what is pending and stops the thread. */
  async close(): Promise<void> {
    this.stop(new Error("the unpacked file is closed"));
    await this.worker?.terminate();
  }
}
