import { open, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { IndexBuilder } from "../../stick-layout/chunk-index.js";
import { packFileName } from "../../stick-layout/format.js";
import { encodePackHeader, encodeRecordHead, PACK_HEADER_BYTES, RECORD_HEAD_BYTES } from "../../stick-layout/pack.js";
import { fileError } from "../errors/errors.js";

const WRITE_BUFFER_BYTES = 4 * 1024 * 1024;

/**
 * Appends sealed chunks to pack files, starting a new pack before one would pass the
 * limit. Records are copied into one reused write buffer (USB sticks like large writes, and
 * the caller may reuse its buffers at once); each pack is synced when closed.
 */
export class PackWriter {
  private fh: FileHandle | undefined;
  private packNumber: number;
  private packBytes = 0;
  private readonly buffer: Buffer;
  private pendingBytes = 0;
  readonly index = new IndexBuilder();
  /** Sealed bytes written (record heads and pack headers not counted). */
  storedBytes = 0;

  constructor(
    private readonly stickDir: string,
    firstPackNumber: number,
    private readonly packLimit: number,
    maxRecord: number,
  ) {
    this.packNumber = firstPackNumber - 1;
    this.buffer = Buffer.allocUnsafe(Math.max(WRITE_BUFFER_BYTES, maxRecord));
  }

  get packCount(): number {
    return this.packNumber + 1;
  }

  /** Appends one chunk; returns its row in `index`. */
  async append(id: Buffer, sealed: Buffer): Promise<number> {
    const length = RECORD_HEAD_BYTES + sealed.length;
    if (this.fh === undefined || this.packBytes + length > this.packLimit) await this.startPack();
    const row = this.index.add({ id, pack: this.packNumber, offset: this.packBytes, length });
    if (this.pendingBytes + length > this.buffer.length) await this.writePending();
    this.queue(encodeRecordHead(id, sealed.length));
    this.queue(sealed);
    this.packBytes += length;
    this.storedBytes += sealed.length;
    return row;
  }

  /** Flushes, syncs and closes the last pack. */
  async finish(): Promise<void> {
    await this.closePack();
  }

  /** Closes without syncing, for a build that is being abandoned. */
  async abandon(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    this.pendingBytes = 0;
    await fh?.close().catch(() => undefined);
  }

  private queue(b: Buffer): void {
    this.pendingBytes += b.copy(this.buffer, this.pendingBytes);
  }

  private path(): string {
    return join(this.stickDir, packFileName(this.packNumber));
  }

  private async writePending(): Promise<void> {
    if (this.fh === undefined || this.pendingBytes === 0) return;
    const data = this.buffer.subarray(0, this.pendingBytes);
    this.pendingBytes = 0;
    try {
      let done = 0;
      while (done < data.length) done += (await this.fh.write(data, done)).bytesWritten;
    } catch (err) {
      throw fileError(err, "write", this.path());
    }
  }

  private async closePack(): Promise<void> {
    const fh = this.fh;
    if (fh === undefined) return;
    try {
      await this.writePending();
      await fh.sync();
    } catch (err) {
      throw fileError(err, "write", this.path());
    } finally {
      this.fh = undefined;
      this.pendingBytes = 0;
      await fh.close().catch(() => undefined);
    }
  }

  private async startPack(): Promise<void> {
    await this.closePack();
    this.packNumber += 1;
    const path = this.path();
    try {
      this.fh = await open(path, "wx");
    } catch (err) {
      throw fileError(err, "create", path);
    }
    this.queue(encodePackHeader(this.packNumber));
    this.packBytes = PACK_HEADER_BYTES;
  }
}
