import { randomBytes } from "node:crypto";
import { open, statfs, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { fileError } from "../errors/errors.js";
import { DEFAULT_WIPE_PASSES } from "../securewipe/residue.js";
import { wipeFile } from "../securewipe/wipe-file.js";
import { WrittenRegions } from "../securewipe/written-regions.js";
import { freeNow } from "../util/free-now.js";
import { readDeciphered, unpackedCipher, type UnpackedKey } from "./unpacked-cipher.js";
import { UnpackedReader } from "./unpacked-reader.js";

/** Share of the host disk's free space the cache may fill at most. */
export const UNPACKED_SHARE_OF_FREE = 0.25;

/** Reads that do not start on a 16-byte block go through one reused buffer up to this size. */
const SCRATCH_BYTES = 1024 * 1024;

/** Reads from this size go to the reader thread, when their buffer can be shared with it. */
export const THREAD_READ_BYTES = 64 * 1024;

/** Bytes the reader thread may have queued: past that, this thread reads too, so both cores work. */
const THREAD_QUEUE_BYTES = 2 * 1024 * 1024;

/**
 * Decoded base chunks kept on the host disk for this session, so that reading a chunk again
 * costs a file read and a cipher pass instead of inflating it (inflate is the slow step of
 * the base layer: about 4× the cost of the file read and the cipher together here).
 *
 * The file is laid out like the disk (sparse; chunk i at i × chunk size) and encrypted with
 * AES-256-CTR under a key that exists only in this process; the counter is the disk offset
 * divided by 16, after a random 8-byte nonce. Every position is written at most once, with
 * the one plaintext the base holds there, so no keystream is used for two plaintexts.
 * There is no tag: the file lives only for the session, whose host is trusted while it runs
 * (docs/ARCHITECTURE.md), and dropping the key at exit is its crypto-erase. Zero chunks are
 * never stored: readers fill them in.
 *
 * Bounded by `budget` bytes; past it, chunks are simply not stored. A write error (a full
 * host disk) turns the cache off for the rest of the session; reads then decode as before.
 */
export class UnpackedCache {
  private readonly present: Uint8Array;
  private stored = 0;
  private off = false;
  private readonly writing = new Set<Promise<void>>();
  /** Chunks to write at the next turn of the event loop. */
  private readonly queued = new Map<number, Buffer>();
  private readonly scratch = Buffer.allocUnsafe(SCRATCH_BYTES);
  private readonly reader: UnpackedReader;
  private readonly written = new WrittenRegions();
  /** Overwrite passes when the file is wiped at the end. */
  private wipePasses = DEFAULT_WIPE_PASSES;

  private constructor(
    private readonly fh: FileHandle,
    readonly path: string,
    /** The key in shared memory, which the reader thread reads and destroy overwrites. */
    private readonly k: UnpackedKey,
    readonly chunkSize: number,
    readonly budget: number,
    chunkCount: number,
    private readonly warn: (message: string) => void,
  ) {
    this.present = new Uint8Array(chunkCount);
    this.reader = new UnpackedReader({ fd: fh.fd, key: k.key.buffer as SharedArrayBuffer, nonce: k.nonce });
  }

  /** A new cache in `dir` for a disk of `size` bytes; its budget is a share of the free space unless given. */
  static async create(o: { dir: string; size: number; chunkSize: number; budget?: number; wipePasses?: number; warn: (message: string) => void }): Promise<UnpackedCache> {
    const path = join(o.dir, `base-${randomBytes(6).toString("hex")}.unpacked`);
    let budget = o.budget;
    if (budget === undefined) {
      try {
        const fs = await statfs(o.dir);
        budget = Math.floor(fs.bavail * fs.bsize * UNPACKED_SHARE_OF_FREE);
      } catch (err) {
        throw fileError(err, "check the free space of", o.dir);
      }
    }
    let fh: FileHandle;
    try {
      fh = await open(path, "wx+", 0o600);
      // the disk's length, sparse: a read over zero chunks past the last one stored finds holes, not the end
      await fh.truncate(o.size);
    } catch (err) {
      throw fileError(err, "create", path);
    }
    const chunks = Math.ceil(o.size / o.chunkSize);
    const key = new Uint8Array(new SharedArrayBuffer(32));
    key.set(randomBytes(32));
    const cache = new UnpackedCache(fh, path, { key, nonce: randomBytes(8) }, o.chunkSize, budget, chunks, o.warn);
    if (o.wipePasses !== undefined) cache.wipePasses = o.wipePasses;
    return cache;
  }

  has(index: number): boolean {
    return this.present[index] === 1;
  }

  /** Bytes of decoded chunks held. */
  get bytes(): number {
    return this.stored;
  }

  /**
   * Bytes [offset, offset + into.length) as stored, into `into`; the caller has checked that
   * every chunk there was stored. A long read into shared memory (the NBD server's reply
   * buffers) goes to the reader thread, unless the thread is that far behind already; the
   * rest is read here, synchronously: the file was written by this session and is read back
   * from the page cache, where a short pread costs less than handing it to a thread and back.
   */
  async readInto(offset: number, into: Uint8Array): Promise<void> {
    try {
      if (this.toThread(into)) await this.reader.read(offset, into);
      else readDeciphered(this.fh.fd, this.k, offset, into, this.scratch);
    } catch (err) {
      throw fileError(err, "read", this.path);
    }
  }

  private toThread(into: Uint8Array): boolean {
    return into.length >= THREAD_READ_BYTES && into.buffer instanceof SharedArrayBuffer && this.reader.usable && this.reader.queuedBytes < THREAD_QUEUE_BYTES;
  }

  /**
   * Stores chunk `index` in the background; it counts as present once written. Chunks stored
   * in one turn of the event loop are written together, a run of neighbours in one call (a
   * sequential read stores them in order), since each write handed to a thread costs more
   * here than the copy itself.
   */
  store(index: number, plain: Buffer): void {
    if (this.off || this.present[index] !== 0 || this.stored + this.chunkSize > this.budget) return;
    this.present[index] = 2; // being written
    this.stored += this.chunkSize;
    if (this.queued.size === 0) setImmediate(() => void this.writeQueued());
    this.queued.set(index, plain);
  }

  private async writeQueued(): Promise<void> {
    const indexes = [...this.queued.keys()].sort((a, b) => a - b);
    const chunks = new Map(this.queued);
    this.queued.clear();
    const runs: number[][] = [];
    for (const i of indexes) {
      const run = runs.at(-1);
      if (run !== undefined && run.at(-1) === i - 1) run.push(i);
      else runs.push([i]);
    }
    await Promise.all(runs.map((run) => this.writeRun(run, chunks)));
  }

  /** Encrypts and writes neighbouring chunks with one cipher and one write. */
  private async writeRun(run: number[], chunks: Map<number, Buffer>): Promise<void> {
    const first = run[0] ?? 0;
    const offset = first * this.chunkSize;
    const cipher = unpackedCipher(this.k, offset);
    const sealed = run.map((i) => cipher.update(chunks.get(i) ?? Buffer.alloc(0)));
    this.written.mark(offset, run.length * this.chunkSize);
    const done = this.write(sealed, offset).then(
      () => {
        sealed.forEach(freeNow);
        if (!this.off) for (const i of run) this.present[i] = 1;
      },
      (err: unknown) => {
        if (this.off) return;
        this.off = true;
        this.present.fill(0);
        this.warn(`the host cache of decoded base chunks is off for this session: ${fileError(err, "write", this.path).message}`);
      },
    );
    this.writing.add(done);
    await done;
    this.writing.delete(done);
  }

  private async write(parts: Buffer[], offset: number): Promise<void> {
    let data = parts;
    let at = offset;
    while (data.length > 0) {
      const { bytesWritten } = await this.fh.writev(data, at);
      at += bytesWritten;
      data = afterBytes(data, bytesWritten);
    }
  }

  /** Drops the key (what the file holds is unreadable from here on: the crypto-erase), then wipes the file where it was written. */
  async destroy(): Promise<void> {
    this.off = true;
    await Promise.all(this.writing);
    await this.reader.close();
    this.k.key.fill(0);
    await this.fh.close().catch(() => undefined);
    await wipeFile(this.path, this.wipePasses, this.written.regions());
  }
}

/** What is left of `parts` after their first `n` bytes. */
function afterBytes(parts: Buffer[], n: number): Buffer[] {
  let skip = n;
  const rest: Buffer[] = [];
  for (const p of parts) {
    if (skip >= p.length) skip -= p.length;
    else {
      rest.push(skip > 0 ? p.subarray(skip) : p);
      skip = 0;
    }
  }
  return rest;
}
