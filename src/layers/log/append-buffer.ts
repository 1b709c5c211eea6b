// The records appended since the last pwrite, for one segment: one pwrite for many records,
// and reads of acknowledged writes served from memory until (and while) they are written.
// Two buffers take turns, so appends go on while the other one is being written.

interface Held {
  buf: Buffer;
  segment: number;
  base: number;
  length: number;
}

export class AppendBuffer {
  private current: Held;
  private spare: Held;
  private inflight: { held: Held; done: Promise<void> } | undefined;

  constructor(capacity: number) {
    this.current = { buf: Buffer.allocUnsafe(capacity), segment: -1, base: 0, length: 0 };
    this.spare = { buf: Buffer.allocUnsafe(capacity), segment: -1, base: 0, length: 0 };
  }

  get empty(): boolean {
    return this.current.length === 0;
  }

  /** Whether `bytes` more at `segment` can be appended without writing out what is held first. */
  fits(segment: number, bytes: number): boolean {
    const c = this.current;
    return c.length === 0 || (segment === c.segment && c.length + bytes <= c.buf.length);
  }

  /** Appends parts that go to `offset` of `segment`, right after what the buffer holds. */
  append(segment: number, offset: number, parts: Buffer[]): void {
    const c = this.current;
    const total = parts.reduce((n, p) => n + p.length, 0);
    if (!this.fits(segment, total) || (c.length > 0 && offset !== c.base + c.length)) {
      throw new Error("internal: append buffer not drained before an append elsewhere");
    }
    if (c.length === 0) {
      c.segment = segment;
      c.base = offset;
    }
    for (const p of parts) c.length += p.copy(c.buf, c.length);
  }

  /**
   * Starts writing the held bytes out, once the previous write has finished (its failure is
   * thrown here), and swaps buffers. Returns the segment, how many bytes and the write's
   * completion, or undefined when nothing was held.
   */
  async drain(write: (segment: number, data: Buffer, offset: number) => Promise<void>): Promise<{ segment: number; bytes: number; done: Promise<void> } | undefined> {
    await this.settled();
    const held = this.current;
    if (held.length === 0) return undefined;
    this.current = this.spare;
    this.spare = held;
    const done = write(held.segment, held.buf.subarray(0, held.length), held.base).finally(() => {
      held.length = 0;
      if (this.inflight?.held === held) this.inflight = undefined;
    });
    // its failure reaches whoever awaits `done` or the next drain; no unhandled rejection meanwhile
    done.catch(() => undefined);
    this.inflight = { held, done };
    return { segment: held.segment, bytes: held.length, done };
  }

  /** Waits for the write in flight, if any; throws its failure. */
  async settled(): Promise<void> {
    await this.inflight?.done;
  }

  /**
   * Bytes [offset, offset + length) of a segment: the file's, overlaid with what the buffers
   * hold there (newer). What they hold is copied before the file is read, because it may reach
   * the file while that read runs.
   */
  async read(segment: number, offset: number, length: number, readFile: () => Promise<Buffer>): Promise<Buffer> {
    const overlays: { at: number; data: Buffer }[] = [];
    for (const src of [this.inflight?.held, this.current]) {
      if (src === undefined || src.length === 0 || src.segment !== segment) continue;
      const from = Math.max(offset, src.base);
      const to = Math.min(offset + length, src.base + src.length);
      if (from >= to) continue;
      const data = Buffer.from(src.buf.subarray(from - src.base, to - src.base));
      if (data.length === length) return data;
      overlays.push({ at: from - offset, data });
    }
    const got = await readFile();
    for (const o of overlays) o.data.copy(got, o.at);
    return got;
  }
}
