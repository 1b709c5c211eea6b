// The records appended since the last pwrite, for one segment: one pwrite for many records,
// and reads of acknowledged writes served from memory until (and while) they are written.

export class AppendBuffer {
  private readonly buf: Buffer;
  private segment = -1;
  private base = 0;
  private length = 0;
  private inflight: { segment: number; base: number; data: Buffer } | undefined;

  constructor(capacity: number) {
    this.buf = Buffer.allocUnsafe(capacity);
  }

  get empty(): boolean {
    return this.length === 0;
  }

  /** Whether `bytes` more at `segment` can be appended without writing out what is held first. */
  fits(segment: number, bytes: number): boolean {
    return this.length === 0 || (segment === this.segment && this.length + bytes <= this.buf.length);
  }

  /** Appends parts that go to `offset` of `segment`, right after what the buffer holds. */
  append(segment: number, offset: number, parts: Buffer[]): void {
    const total = parts.reduce((n, p) => n + p.length, 0);
    if (!this.fits(segment, total) || (this.length > 0 && offset !== this.base + this.length)) {
      throw new Error("internal: append buffer not drained before an append elsewhere");
    }
    if (this.length === 0) {
      this.segment = segment;
      this.base = offset;
    }
    for (const p of parts) this.length += p.copy(this.buf, this.length);
  }

  /** Writes the held bytes out; returns the segment written, or undefined when there was nothing. */
  async drain(write: (segment: number, data: Buffer, offset: number) => Promise<void>): Promise<number | undefined> {
    if (this.length === 0) return undefined;
    // Appends wait for the drain (the device serialises them), so `data` may stay a view of buf.
    const job = { segment: this.segment, base: this.base, data: this.buf.subarray(0, this.length) };
    this.inflight = job;
    this.length = 0;
    try {
      await write(job.segment, job.data, job.base);
    } finally {
      this.inflight = undefined;
    }
    return job.segment;
  }

  /**
   * Bytes [offset, offset + length) of a segment: the file's, overlaid with what this buffer
   * holds there (newer). What it holds is copied before the file is read, because it may reach
   * the file while that read runs.
   */
  async read(segment: number, offset: number, length: number, readFile: () => Promise<Buffer>): Promise<Buffer> {
    const overlays: { at: number; data: Buffer }[] = [];
    for (const src of [this.inflight, { segment: this.segment, base: this.base, data: this.buf.subarray(0, this.length) }]) {
      if (src?.segment !== segment) continue;
      const from = Math.max(offset, src.base);
      const to = Math.min(offset + length, src.base + src.data.length);
      if (from >= to) continue;
      const data = Buffer.from(src.data.subarray(from - src.base, to - src.base));
      if (data.length === length) return data;
      overlays.push({ at: from - offset, data });
    }
    const got = await readFile();
    for (const o of overlays) o.data.copy(got, o.at);
    return got;
  }
}
