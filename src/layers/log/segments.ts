import { CorruptStickError } from "../../errors/errors.js";
import type { StoreFile, StoreFiles } from "../../util/store-files.js";
import { SEGMENT_HEADER_USED, segmentFileName, segmentHeaderProblem } from "./format.js";

/**
 * The segment files, opened on first use; each header is checked once, when it is opened.
 * Once a sync fails, every sync fails with it: the kernel reports a write-back error to one
 * fdatasync only and may have dropped the data, so a later or concurrent sync of the same
 * file can succeed without having written it.
 */
export class SegmentFiles {
  private readonly handles = new Map<number, Promise<StoreFile>>();
  private readonly syncing = new Set<Promise<void>>();
  private syncFailure: Error | undefined;

  constructor(
    private readonly files: StoreFiles,
    private readonly dir: string,
    private readonly logId: Buffer,
  ) {}

  path(segment: number): string {
    return `${this.dir}/${segmentFileName(segment)}`;
  }

  file(segment: number): Promise<StoreFile> {
    let h = this.handles.get(segment);
    if (h === undefined) {
      h = this.openChecked(segment);
      this.handles.set(segment, h);
      h.catch(() => this.handles.delete(segment));
    }
    return h;
  }

  private async openChecked(segment: number): Promise<StoreFile> {
    const file = await this.files.open(this.path(segment));
    const head = Buffer.alloc(SEGMENT_HEADER_USED);
    const problem = segmentHeaderProblem(head.subarray(0, await file.read(head, 0)), this.logId, segment);
    if (problem !== undefined) {
      await file.close();
      throw new CorruptStickError(`${this.path(segment)} has a bad header: ${problem}`);
    }
    return file;
  }

  /** Reads exactly `length` bytes, or fewer only when the file is shorter. */
  async read(segment: number, offset: number, length: number): Promise<Buffer> {
    const buf = Buffer.alloc(length);
    const n = await (await this.file(segment)).read(buf, offset);
    return buf.subarray(0, n);
  }

  async write(segment: number, data: Buffer, offset: number): Promise<void> {
    await (await this.file(segment)).write(data, offset);
  }

  async sync(segment: number): Promise<void> {
    const own = this.syncOnce(segment);
    this.syncing.add(own);
    try {
      await own;
    } finally {
      this.syncing.delete(own);
    }
    // a sync running beside this one may be the one that took an error about this one's data
    await Promise.all([...this.syncing].map((p) => p.catch(() => undefined)));
    if (this.syncFailure !== undefined) throw this.syncFailure;
  }

  private async syncOnce(segment: number): Promise<void> {
    if (this.syncFailure !== undefined) throw this.syncFailure;
    try {
      await (await this.file(segment)).sync();
    } catch (err) {
      this.syncFailure ??= err instanceof Error ? err : new Error(String(err));
      throw err;
    }
  }

  async closeAll(): Promise<void> {
    const all = [...this.handles.values()];
    this.handles.clear();
    for (const h of all) await (await h.catch(() => undefined))?.close();
  }
}
