import { manifestEntry, ZERO_CHUNK_ID } from "../../stick-layout/manifest.js";
import type { BaseImage } from "../chunkstore/base-image.js";
import type { Extent } from "./block-device.js";
import { ReadOnlyDevice } from "./read-only-device.js";
import type { UnpackedCache } from "./unpacked-cache.js";

/** Chunks fetched ahead of a sequential reader at most: 1 MiB of 64 KiB chunks. */
export const MAX_READ_AHEAD_CHUNKS = 16;

/** Decoded chunks kept in memory by default: 32 MiB (the unpacked file, where there is one, holds the rest). */
export const DEFAULT_BASE_CACHE_BYTES = 32 * 1024 * 1024;

const UNKNOWN = 0;
const ZERO = 1;
const DATA = 2;

/**
 * The base layer: a signed image of the stick (the base, or the user template), read-only,
 * with a bounded LRU of decoded chunks so that a guest reading a chunk in 4 KiB pieces
 * decrypts and inflates it once, and optionally the session's host file of decoded chunks
 * (UnpackedCache) behind it, which serves a range whose chunks are all there without
 * decoding any. Concurrent reads of one chunk share one fetch. A reader going forward
 * (each read starting in the chunk where the last one ended, or the next) gets the chunks
 * ahead of it fetched in the background, a window that doubles up to MAX_READ_AHEAD_CHUNKS,
 * behind every read a guest waits for.
 */
export class BaseDevice extends ReadOnlyDevice {
  private readonly chunkSize: number;
  private readonly cache = new Map<number, Buffer>();
  private readonly inFlight = new Map<number, Promise<Buffer>>();
  private readonly capacity: number;
  private readonly unpacked: UnpackedCache | undefined;
  protected readonly what: string;
  private readonly chunkCount: number;
  /** The chunk after the last read's last one, and the read-ahead window (0: not sequential). */
  private nextChunk = -1;
  private window = 0;
  /** Each chunk's manifest entry, zero or not, once looked up: every read asks, several times a chunk. */
  private readonly kinds: Uint8Array;

  constructor(
    private readonly base: BaseImage,
    o: { cacheBytes?: number; unpacked?: UnpackedCache; what?: string } = {},
  ) {
    super();
    const cacheBytes = o.cacheBytes ?? DEFAULT_BASE_CACHE_BYTES;
    this.unpacked = o.unpacked;
    this.what = o.what ?? "the base image";
    this.chunkSize = base.manifest.chunkSize;
    this.chunkCount = Math.ceil(base.size / this.chunkSize);
    this.capacity = Math.max(1, Math.floor(cacheBytes / this.chunkSize));
    this.kinds = new Uint8Array(this.chunkCount);
  }

  get size(): number {
    return this.base.size;
  }

  private isZero(index: number): boolean {
    let kind = this.kinds[index];
    if (kind === UNKNOWN) {
      kind = manifestEntry(this.base.manifest, index).equals(ZERO_CHUNK_ID) ? ZERO : DATA;
      this.kinds[index] = kind;
    }
    return kind === ZERO;
  }

  private chunk(index: number, urgent = true): Promise<Buffer> {
    const hit = this.cache.get(index);
    if (hit !== undefined) {
      // refresh its place in the LRU order (a Map keeps insertion order)
      this.cache.delete(index);
      this.cache.set(index, hit);
      return Promise.resolve(hit);
    }
    let pending = this.inFlight.get(index);
    if (pending === undefined) {
      pending = this.base.chunk(index, urgent).then(
        (data) => {
          this.inFlight.delete(index);
          this.unpacked?.store(index, data);
          this.cache.set(index, data);
          if (this.cache.size > this.capacity) {
            const oldest = this.cache.keys().next();
            if (oldest.done !== true) this.cache.delete(oldest.value);
          }
          return data;
        },
        (err: unknown) => {
          this.inFlight.delete(index);
          throw err;
        },
      );
      this.inFlight.set(index, pending);
    }
    return pending;
  }

  async read(offset: number, length: number): Promise<Buffer> {
    const unpacked = this.unpackedFor(offset, length);
    if (unpacked === undefined) return this.base.read(offset, length, (index) => this.chunk(index));
    const data = Buffer.allocUnsafe(length);
    this.readUnpacked(unpacked, offset, data);
    return data;
  }

  async readInto(offset: number, into: Buffer): Promise<void> {
    const unpacked = this.unpackedFor(offset, into.length);
    if (unpacked !== undefined) this.readUnpacked(unpacked, offset, into);
    else (await this.base.read(offset, into.length, (index) => this.chunk(index))).copy(into);
  }

  /** Starts the read-ahead; the unpacked file when it holds every chunk of the range. */
  private unpackedFor(offset: number, length: number): UnpackedCache | undefined {
    if (length === 0) return undefined;
    const first = Math.floor(offset / this.chunkSize);
    const last = Math.floor((offset + length - 1) / this.chunkSize);
    this.readAhead(first, last);
    return this.allUnpacked(first, last) ? this.unpacked : undefined;
  }

  private readUnpacked(unpacked: UnpackedCache, offset: number, into: Buffer): void {
    unpacked.readInto(offset, into);
    const first = Math.floor(offset / this.chunkSize);
    const last = Math.floor((offset + into.length - 1) / this.chunkSize);
    // zero chunks are not in the file: what was read there is keystream, not zeros
    for (let i = first; i <= last; i++) {
      if (this.isZero(i)) into.fill(0, Math.max(0, i * this.chunkSize - offset), Math.min(into.length, (i + 1) * this.chunkSize - offset));
    }
  }

  private readAhead(first: number, last: number): void {
    const sequential = first === this.nextChunk || first === this.nextChunk - 1;
    this.window = sequential ? Math.min(MAX_READ_AHEAD_CHUNKS, Math.max(2, this.window * 2)) : 0;
    this.nextChunk = last + 1;
    for (let i = last + 1; i <= Math.min(last + this.window, this.chunkCount - 1); i++) {
      if (this.isZero(i) || this.cache.has(i) || this.inFlight.has(i) || this.unpacked?.has(i) === true) continue;
      // a chunk that fails to load fails again, with its error, for the read that needs it
      this.chunk(i, false).catch(() => undefined);
    }
  }

  /** True when there is an unpacked file and every non-zero chunk from `first` to `last` is in it. */
  private allUnpacked(first: number, last: number): boolean {
    if (this.unpacked === undefined) return false;
    for (let i = first; i <= last; i++) if (!this.isZero(i) && !this.unpacked.has(i)) return false;
    return true;
  }

  blockStatus(offset: number, length: number): Promise<Extent[]> {
    const extents: Extent[] = [];
    let pos = offset;
    while (pos < offset + length) {
      const index = Math.floor(pos / this.chunkSize);
      const end = Math.min(offset + length, (index + 1) * this.chunkSize);
      const zero = this.isZero(index);
      const prev = extents.at(-1);
      if (prev !== undefined && prev.zero === zero) prev.length += end - pos;
      else extents.push({ length: end - pos, hole: zero, zero });
      pos = end;
    }
    return Promise.resolve(extents);
  }

  override async close(): Promise<void> {
    this.cache.clear();
    await this.unpacked?.destroy();
  }
}
