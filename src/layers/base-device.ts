import { manifestEntry, ZERO_CHUNK_ID } from "../../stick-layout/manifest.js";
import type { BaseImage } from "../chunkstore/base-image.js";
import { ReadOnlyError } from "../errors/errors.js";
import type { BlockDevice, Extent } from "./block-device.js";

/** Decoded chunks kept in memory by default: 64 MiB. */
export const DEFAULT_BASE_CACHE_BYTES = 64 * 1024 * 1024;

/**
 * The base layer: the signed base image, read-only, with a bounded LRU of decoded chunks
 * so that a guest reading a chunk in 4 KiB pieces decrypts and inflates it once.
 * Concurrent reads of one chunk share one fetch.
 */
export class BaseDevice implements BlockDevice {
  readonly readOnly = true;
  private readonly chunkSize: number;
  private readonly cache = new Map<number, Buffer>();
  private readonly inFlight = new Map<number, Promise<Buffer>>();
  private readonly capacity: number;

  constructor(
    private readonly base: BaseImage,
    cacheBytes = DEFAULT_BASE_CACHE_BYTES,
  ) {
    this.chunkSize = base.manifest.chunkSize;
    this.capacity = Math.max(1, Math.floor(cacheBytes / this.chunkSize));
  }

  get size(): number {
    return this.base.size;
  }

  private isZero(index: number): boolean {
    return manifestEntry(this.base.manifest, index).equals(ZERO_CHUNK_ID);
  }

  private chunk(index: number): Promise<Buffer> {
    const hit = this.cache.get(index);
    if (hit !== undefined) {
      // refresh its place in the LRU order (a Map keeps insertion order)
      this.cache.delete(index);
      this.cache.set(index, hit);
      return Promise.resolve(hit);
    }
    let pending = this.inFlight.get(index);
    if (pending === undefined) {
      pending = this.base.chunk(index).then(
        (data) => {
          this.inFlight.delete(index);
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
    const first = Math.floor(offset / this.chunkSize);
    const last = Math.floor((offset + length - 1) / this.chunkSize);
    if (length > 0 && first === last) {
      if (this.isZero(first)) return Buffer.alloc(length);
      const within = offset - first * this.chunkSize;
      return Buffer.from((await this.chunk(first)).subarray(within, within + length));
    }
    const out = Buffer.alloc(length);
    const parts: Promise<void>[] = [];
    for (let index = first; length > 0 && index <= last; index++) {
      if (this.isZero(index)) continue;
      const start = Math.max(offset, index * this.chunkSize);
      const end = Math.min(offset + length, (index + 1) * this.chunkSize);
      parts.push(
        this.chunk(index).then((data) => {
          data.copy(out, start - offset, start - index * this.chunkSize, end - index * this.chunkSize);
        }),
      );
    }
    await Promise.all(parts);
    return out;
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

  write(): Promise<void> {
    return Promise.reject(new ReadOnlyError("the base image"));
  }

  trim(): Promise<void> {
    return Promise.reject(new ReadOnlyError("the base image"));
  }

  writeZeroes(): Promise<void> {
    return Promise.reject(new ReadOnlyError("the base image"));
  }

  flush(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.cache.clear();
    return Promise.resolve();
  }
}
