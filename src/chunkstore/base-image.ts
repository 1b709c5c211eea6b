import { manifestEntry, ZERO_CHUNK_ID, type Manifest } from "../../stick-layout/manifest.js";
import { UsageError } from "../errors/errors.js";

/**
 * The plaintext of one stored chunk, by id; rejects with ChunkMissingError or ChunkInvalidError.
 * Urgent reads (someone waits for them) go before the others (read-ahead).
 */
export type ReadChunk = (id: Buffer, urgent: boolean) => Promise<Buffer>;

/** The base disk of one manifest: any byte range, assembled from decoded chunks. */
export class BaseImage {
  constructor(
    readonly manifest: Manifest,
    private readonly readChunk: ReadChunk,
  ) {}

  get size(): number {
    return this.manifest.diskSize;
  }

  /** The plaintext of chunk `index` (all zeros for a zero entry). */
  chunk(index: number, urgent = true): Promise<Buffer> {
    const id = manifestEntry(this.manifest, index);
    if (id.equals(ZERO_CHUNK_ID)) return Promise.resolve(Buffer.alloc(this.manifest.chunkSize));
    return this.readChunk(id, urgent);
  }

  /**
   * Any byte range, its chunks fetched concurrently through `fetch` (a caller with a cache of
   * decoded chunks passes its own); zero entries are never fetched. All are asked for before
   * the first await, so the reader pool sees them together and reads neighbours in one go.
   */
  async read(offset: number, length: number, fetch: (index: number) => Promise<Buffer> = (i) => this.chunk(i)): Promise<Buffer> {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
      throw new UsageError(`read of ${length} bytes at ${offset} is outside the ${this.size}-byte base image`);
    }
    const { chunkSize } = this.manifest;
    const index = Math.floor(offset / chunkSize);
    const within = offset + length <= (index + 1) * chunkSize;
    if (within && length > 0 && !manifestEntry(this.manifest, index).equals(ZERO_CHUNK_ID)) {
      // inside one chunk: a view of it, no copy (readers do not change what they get)
      const from = offset - index * chunkSize;
      return (await fetch(index)).subarray(from, from + length);
    }
    const out = Buffer.alloc(length);
    const parts: Promise<void>[] = [];
    for (let pos = offset; pos < offset + length; ) {
      const index = Math.floor(pos / chunkSize);
      const end = Math.min(offset + length, (index + 1) * chunkSize);
      if (!manifestEntry(this.manifest, index).equals(ZERO_CHUNK_ID)) {
        const at = pos - offset;
        const from = pos - index * chunkSize;
        const to = end - index * chunkSize;
        parts.push(fetch(index).then((data) => void data.copy(out, at, from, to)));
      }
      pos = end;
    }
    await Promise.all(parts);
    return out;
  }
}
