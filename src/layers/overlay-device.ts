import { OutOfRangeError } from "../errors/errors.js";
import type { BlockDevice, Extent, WriteOptions } from "./block-device.js";
import { EncryptedBlockFile, SCRATCH_BLOCK_BYTES } from "./encrypted-block-file.js";
import { ZeroDevice } from "./zero-device.js";

const B = SCRATCH_BLOCK_BYTES;
/** Where a block's current content is. */
const LOWER = 0;
const STORED = 1;
const ZERO = 2;

/**
 * Copy-on-write over a lower device, into an encrypted host scratch file whose key lives
 * only in RAM. Over the base it is the `volatile` system-changes layer; over zeros it is
 * the local disk. Its data dies with the process, so flush and FUA have nothing to make
 * durable: they only wait for the writes already acknowledged, which are complete.
 */
export class OverlayDevice implements BlockDevice {
  readonly readOnly = false;
  private readonly state: Uint8Array;
  /** Writes run one at a time, so a partial-block read-modify-write never races another. */
  private writeQueue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly lower: BlockDevice,
    private readonly store: EncryptedBlockFile,
  ) {
    this.state = new Uint8Array(Math.ceil(lower.size / B));
  }

  get size(): number {
    return this.lower.size;
  }

  /** The scratch file, for the residue journal. */
  get scratchPath(): string {
    return this.store.path;
  }

  private check(offset: number, length: number): void {
    if (offset < 0 || length < 0 || offset + length > this.size) throw new OutOfRangeError(offset, length, this.size);
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.writeQueue.then(fn, fn);
    this.writeQueue = run.catch(() => undefined);
    return run;
  }

  /** The current content of `count` blocks from `first`, run by run of equal state. */
  private async readBlocks(first: number, count: number): Promise<Buffer> {
    const out = Buffer.alloc(count * B);
    const parts: Promise<void>[] = [];
    let i = 0;
    while (i < count) {
      const kind = this.state[first + i];
      let j = i + 1;
      while (j < count && this.state[first + j] === kind) j++;
      const at = i * B;
      const start = first + i;
      const n = j - i;
      if (kind === STORED) {
        parts.push(this.store.read(start, n).then((d) => void d.copy(out, at)));
      } else if (kind === LOWER) {
        const end = Math.min((start + n) * B, this.size);
        parts.push(this.lower.read(start * B, end - start * B).then((d) => void d.copy(out, at)));
      }
      i = j;
    }
    await Promise.all(parts);
    return out;
  }

  /** Whether the blocks under [offset, offset + length) all hold the lower layer's bytes (most reads of a system disk). */
  private untouched(offset: number, length: number): boolean {
    return this.state.subarray(Math.floor(offset / B), Math.floor((offset + length - 1) / B) + 1).every((kind) => kind === LOWER);
  }

  async read(offset: number, length: number): Promise<Buffer> {
    this.check(offset, length);
    if (length === 0) return Buffer.alloc(0);
    if (this.untouched(offset, length)) return this.lower.read(offset, length);
    const first = Math.floor(offset / B);
    const blocks = await this.readBlocks(first, Math.floor((offset + length - 1) / B) - first + 1);
    const from = offset - first * B;
    return blocks.subarray(from, from + length);
  }

  async readInto(offset: number, into: Buffer): Promise<void> {
    this.check(offset, into.length);
    if (into.length === 0) return;
    if (this.untouched(offset, into.length) && this.lower.readInto) return this.lower.readInto(offset, into);
    (await this.read(offset, into.length)).copy(into);
  }

  /** Writes `data` at `offset` (null: zeros), whole blocks at once, edges read-modify-written. */
  private async writeRange(offset: number, length: number, data: Buffer | null): Promise<void> {
    const first = Math.floor(offset / B);
    const last = Math.floor((offset + length - 1) / B);
    const buf = Buffer.alloc((last - first + 1) * B);
    const headPartial = offset % B !== 0;
    const tailPartial = (offset + length) % B !== 0;
    if (headPartial) (await this.readBlocks(first, 1)).copy(buf, 0);
    if (tailPartial && (last !== first || !headPartial)) (await this.readBlocks(last, 1)).copy(buf, (last - first) * B);
    if (data) data.copy(buf, offset - first * B);
    else buf.fill(0, offset - first * B, offset - first * B + length);
    await this.store.write(first, buf);
    this.state.fill(STORED, first, last + 1);
  }

  async write(offset: number, data: Buffer, _opts: WriteOptions): Promise<void> {
    this.check(offset, data.length);
    if (data.length === 0) return;
    await this.serial(() => this.writeRange(offset, data.length, data));
  }

  /** Whole blocks become ZERO without any I/O; partial edges are written as zeros. */
  async writeZeroes(offset: number, length: number, _opts: WriteOptions): Promise<void> {
    this.check(offset, length);
    if (length === 0) return;
    await this.serial(async () => {
      const firstWhole = Math.ceil(offset / B);
      const endWhole = Math.floor((offset + length) / B);
      if (firstWhole >= endWhole) {
        await this.writeRange(offset, length, null);
        return;
      }
      if (offset < firstWhole * B) await this.writeRange(offset, firstWhole * B - offset, null);
      if (endWhole * B < offset + length) await this.writeRange(endWhole * B, offset + length - endWhole * B, null);
      this.state.fill(ZERO, firstWhole, endWhole);
    });
  }

  /** Trimmed ranges read back as zeros here, which the NBD spec allows. */
  trim(offset: number, length: number): Promise<void> {
    return this.writeZeroes(offset, length, { fua: false });
  }

  async blockStatus(offset: number, length: number): Promise<Extent[]> {
    this.check(offset, length);
    const extents: Extent[] = [];
    const push = (e: Extent): void => {
      const prev = extents.at(-1);
      if (prev !== undefined && prev.hole === e.hole && prev.zero === e.zero) prev.length += e.length;
      else extents.push({ ...e });
    };
    let pos = offset;
    const end = offset + length;
    while (pos < end) {
      const index = Math.floor(pos / B);
      const kind = this.state[index];
      let next = index + 1;
      while (next * B < end && this.state[next] === kind) next++;
      const runEnd = Math.min(end, next * B);
      if (kind === STORED) push({ length: runEnd - pos, hole: false, zero: false });
      else if (kind === ZERO) push({ length: runEnd - pos, hole: true, zero: true });
      else if (this.lower.blockStatus) for (const e of await this.lower.blockStatus(pos, runEnd - pos)) push(e);
      else push({ length: runEnd - pos, hole: false, zero: false });
      pos = runEnd;
    }
    return extents;
  }

  flush(): Promise<void> {
    return this.serial(() => Promise.resolve());
  }

  /** Waits for writes, then drops the key and removes the scratch file. */
  async close(): Promise<void> {
    await this.serial(() => Promise.resolve());
    await this.store.destroy();
  }
}

/** An empty writable disk of `size` bytes, encrypted in a host scratch file in `dir`: the local disk. */
export async function createScratchDevice(o: { dir: string; size: number; name?: string; wipePasses?: number }): Promise<OverlayDevice> {
  return new OverlayDevice(new ZeroDevice(o.size), await EncryptedBlockFile.create(o.dir, o.name ?? "local", o.wipePasses));
}
