import { manifestEntry, ZERO_CHUNK_ID, type Manifest } from "../../stick-layout/manifest.js";
import type { StickSecrets } from "../../stick-layout/secrets.js";
import { ChunkInvalidError, UsageError } from "../errors/errors.js";
import { ChunkDecodeError, decodeChunk } from "./chunk-codec.js";
import type { ChunkStore } from "./chunk-store.js";

/** The base disk of one manifest: any byte range, assembled from decoded chunks. */
export class BaseImage {
  constructor(
    readonly manifest: Manifest,
    private readonly store: ChunkStore,
    private readonly keys: Pick<StickSecrets, "baseKey" | "chunkIdKey">,
    /** Names where a chunk lives, for error messages. */
    private readonly where: (id: Buffer) => string,
  ) {}

  get size(): number {
    return this.manifest.diskSize;
  }

  /** The plaintext of chunk `index` (all zeros for a zero entry). */
  async chunk(index: number): Promise<Buffer> {
    const { chunkSize } = this.manifest;
    const id = manifestEntry(this.manifest, index);
    if (id.equals(ZERO_CHUNK_ID)) return Buffer.alloc(chunkSize);
    const sealed = await this.store.get(id);
    try {
      return decodeChunk(this.keys, id, sealed, chunkSize);
    } catch (err) {
      if (err instanceof ChunkDecodeError) throw new ChunkInvalidError(id.toString("hex"), this.where(id), err.message);
      throw err;
    }
  }

  /**
   * Any byte range, its chunks fetched concurrently through `fetch` (a caller with a cache of
   * decoded chunks passes its own); zero entries are never fetched.
   */
  async read(offset: number, length: number, fetch: (index: number) => Promise<Buffer> = (i) => this.chunk(i)): Promise<Buffer> {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
      throw new UsageError(`read of ${length} bytes at ${offset} is outside the ${this.size}-byte base image`);
    }
    const { chunkSize } = this.manifest;
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
