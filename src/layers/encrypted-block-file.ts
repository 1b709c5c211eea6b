import { randomBytes } from "node:crypto";
import { open, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { AEAD_OVERHEAD, AeadAuthError, open as openSealed, seal } from "../crypto/aead.js";
import { ChunkInvalidError, fileError } from "../errors/errors.js";
import { DEFAULT_WIPE_PASSES } from "../securewipe/residue.js";
import { wipeFile } from "../securewipe/wipe-file.js";
import { WrittenRegions } from "../securewipe/written-regions.js";

export const SCRATCH_BLOCK_BYTES = 4096;
const SLOT_BYTES = SCRATCH_BLOCK_BYTES + AEAD_OVERHEAD;
const AAD_PREFIX = Buffer.from("stickvm scratch v1\0", "utf8");

/**
 * A host scratch file of 4 KiB blocks, each sealed with AES-256-GCM under a key that exists
 * only in this process's memory: nothing on the host disk is readable without it, and
 * dropping the key at exit is the crypto-erase (DESIGN section 6). Block i lives at
 * i × (4096 + 28) as nonce || ciphertext || tag; its AAD binds this file's random id and i,
 * so blocks cannot be swapped. The file is sparse: untouched blocks take no space.
 */
export class EncryptedBlockFile {
  private readonly written = new WrittenRegions();

  private constructor(
    private readonly fh: FileHandle,
    readonly path: string,
    private readonly key: Buffer,
    private readonly fileId: Buffer,
    private readonly wipePasses: number,
  ) {}

  /** Creates a new scratch file in `dir` (a session folder, journaled for the end-of-session wipe). */
  static async create(dir: string, name: string, wipePasses = DEFAULT_WIPE_PASSES): Promise<EncryptedBlockFile> {
    const path = join(dir, `${name}-${randomBytes(6).toString("hex")}.scratch`);
    let fh: FileHandle;
    try {
      fh = await open(path, "wx+", 0o600);
    } catch (err) {
      throw fileError(err, "create scratch file", path);
    }
    return new EncryptedBlockFile(fh, path, randomBytes(32), randomBytes(16), wipePasses);
  }

  private aad(index: number): Buffer {
    const b = Buffer.alloc(AAD_PREFIX.length + 16 + 8);
    AAD_PREFIX.copy(b);
    this.fileId.copy(b, AAD_PREFIX.length);
    b.writeBigUInt64LE(BigInt(index), AAD_PREFIX.length + 16);
    return b;
  }

  /** Reads `count` consecutive blocks from `first`, all of which were written. */
  async read(first: number, count: number): Promise<Buffer> {
    const raw = Buffer.allocUnsafe(count * SLOT_BYTES);
    let got: number;
    try {
      got = (await this.fh.read(raw, 0, raw.length, first * SLOT_BYTES)).bytesRead;
    } catch (err) {
      throw fileError(err, "read", this.path);
    }
    const out = Buffer.allocUnsafe(count * SCRATCH_BLOCK_BYTES);
    for (let i = 0; i < count; i++) {
      const where = `${this.path} block ${first + i}`;
      if (got < (i + 1) * SLOT_BYTES) throw new ChunkInvalidError("scratch", where, "the scratch file is truncated");
      try {
        openSealed(this.key, raw.subarray(i * SLOT_BYTES, (i + 1) * SLOT_BYTES), this.aad(first + i)).copy(out, i * SCRATCH_BLOCK_BYTES);
      } catch (err) {
        if (err instanceof AeadAuthError) throw new ChunkInvalidError("scratch", where, "it was changed on the host disk");
        throw err;
      }
    }
    return out;
  }

  /** Writes whole blocks from `first`; `data` is a multiple of the block size. */
  async write(first: number, data: Buffer): Promise<void> {
    const count = data.length / SCRATCH_BLOCK_BYTES;
    const raw = Buffer.allocUnsafe(count * SLOT_BYTES);
    for (let i = 0; i < count; i++) {
      seal(this.key, data.subarray(i * SCRATCH_BLOCK_BYTES, (i + 1) * SCRATCH_BLOCK_BYTES), this.aad(first + i)).copy(raw, i * SLOT_BYTES);
    }
    this.written.mark(first * SLOT_BYTES, raw.length);
    try {
      let done = 0;
      while (done < raw.length) done += (await this.fh.write(raw, done, raw.length - done, first * SLOT_BYTES + done)).bytesWritten;
    } catch (err) {
      throw fileError(err, "write", this.path);
    }
  }

  /** Drops the key (the data is unreadable from here on: the crypto-erase), then wipes the file where it was written. */
  async destroy(): Promise<void> {
    this.key.fill(0);
    await this.fh.close().catch(() => undefined);
    await wipeFile(this.path, this.wipePasses, this.written.regions());
  }
}
