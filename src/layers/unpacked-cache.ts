import { createCipheriv, randomBytes, type Cipher } from "node:crypto";
import { readSync } from "node:fs";
import { open, statfs, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { fileError } from "../errors/errors.js";
import { DEFAULT_WIPE_PASSES } from "../securewipe/residue.js";
import { wipeFile } from "../securewipe/wipe-file.js";
import { WrittenRegions } from "../securewipe/written-regions.js";
import { freeNow } from "../util/free-now.js";

/** Share of the host disk's free space the cache may fill at most. */
export const UNPACKED_SHARE_OF_FREE = 0.25;

/** Reads that do not start on a 16-byte block go through one reused buffer up to this size. */
const SCRATCH_BYTES = 1024 * 1024;

/** Bytes deciphered per cipher call: under glibc's 128 KiB mmap threshold (see decipherInPlace). */
const DECIPHER_SLICE_BYTES = 64 * 1024;

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
  private readonly written = new WrittenRegions();
  /** Overwrite passes when the file is wiped at the end. */
  private wipePasses = DEFAULT_WIPE_PASSES;

  private constructor(
    private readonly fh: FileHandle,
    readonly path: string,
    private readonly key: Buffer,
    private readonly nonce: Buffer,
    readonly chunkSize: number,
    readonly budget: number,
    chunkCount: number,
    private readonly warn: (message: string) => void,
  ) {
    this.present = new Uint8Array(chunkCount);
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
    const cache = new UnpackedCache(fh, path, randomBytes(32), randomBytes(8), o.chunkSize, budget, chunks, o.warn);
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

  /** AES-CTR from `offset` (a multiple of 16): encrypts and decrypts alike. */
  private cipher(offset: number): Cipher {
    const iv = Buffer.alloc(16);
    this.nonce.copy(iv, 0);
    iv.writeBigUInt64BE(BigInt(offset / 16), 8);
    return createCipheriv("aes-256-ctr", this.key, iv);
  }

  /**
   * Bytes [offset, offset + into.length) as stored, into `into`; the caller has checked that
   * every chunk there was stored. Only the range is read and deciphered (CTR starts at any
   * 16-byte block). The read is synchronous: the file was written by this session and is read
   * back from the page cache, where a pread costs less than handing it to a thread and back.
   */
  readInto(offset: number, into: Buffer): void {
    const head = offset % 16;
    if (head === 0) {
      this.readFully(into, offset);
      this.decipherInPlace(into, offset);
      return;
    }
    // the cipher starts at the 16-byte block that holds `offset`
    const start = offset - head;
    const total = into.length + head;
    const raw = total <= SCRATCH_BYTES ? this.scratch.subarray(0, total) : Buffer.allocUnsafe(total);
    this.readFully(raw, start);
    this.decipherInPlace(raw, start);
    raw.copy(into, 0, head);
  }

  private readFully(buf: Buffer, position: number): void {
    try {
      for (let done = 0; done < buf.length; ) {
        const n = readSync(this.fh.fd, buf, done, buf.length - done, position + done);
        if (n === 0) throw new Error("the file is shorter than what was stored in it");
        done += n;
      }
    } catch (err) {
      throw fileError(err, "read", this.path);
    }
  }

  /**
   * Deciphers `buf`, which holds the file from `offset` (a multiple of 16), in place, slice by
   * slice: the cipher returns each slice in a new buffer, whose memory is freed once copied, so the
   * next slice reuses the same heap memory, where a whole 256 KiB read would be mapped afresh (a
   * page fault each 4 KiB) every time.
   */
  private decipherInPlace(buf: Buffer, offset: number): void {
    const cipher = this.cipher(offset);
    for (let at = 0; at < buf.length; at += DECIPHER_SLICE_BYTES) {
      const out = cipher.update(buf.subarray(at, at + DECIPHER_SLICE_BYTES));
      out.copy(buf, at);
      freeNow(out);
    }
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
    const cipher = this.cipher(offset);
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
    this.key.fill(0);
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
