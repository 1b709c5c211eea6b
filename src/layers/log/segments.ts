import { CorruptStickError } from "../../errors/errors.js";
import type { LogFile, LogFiles } from "./files.js";
import { SEGMENT_HEADER_USED, segmentFileName, segmentHeaderProblem } from "./format.js";

/** The segment files, opened on first use; each header is checked once, when it is opened. */
export class SegmentFiles {
  private readonly handles = new Map<number, Promise<LogFile>>();

  constructor(
    private readonly files: LogFiles,
    private readonly dir: string,
    private readonly logId: Buffer,
  ) {}

  path(segment: number): string {
    return `${this.dir}/${segmentFileName(segment)}`;
  }

  file(segment: number): Promise<LogFile> {
    let h = this.handles.get(segment);
    if (h === undefined) {
      h = this.openChecked(segment);
      this.handles.set(segment, h);
      h.catch(() => this.handles.delete(segment));
    }
    return h;
  }

  private async openChecked(segment: number): Promise<LogFile> {
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
    await (await this.file(segment)).sync();
  }

  async closeAll(): Promise<void> {
    const all = [...this.handles.values()];
    this.handles.clear();
    for (const h of all) await (await h.catch(() => undefined))?.close();
  }
}
