// Little-endian byte layouts: a bounds-checked reader and a growable writer, so that the
// codecs in stick-layout/ read like the tables in FORMAT.md.

export class LayoutError extends Error {}

export class ByteReader {
  private pos = 0;
  constructor(
    private readonly buf: Buffer,
    private readonly what: string,
  ) {}

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  private take(n: number): Buffer {
    if (n < 0 || this.pos + n > this.buf.length) {
      throw new LayoutError(`${this.what} is truncated: needs ${this.pos + n} bytes, has ${this.buf.length}`);
    }
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  bytes(n: number): Buffer {
    return Buffer.from(this.take(n));
  }

  u8(): number {
    return this.take(1).readUInt8(0);
  }

  u16(): number {
    return this.take(2).readUInt16LE(0);
  }

  u32(): number {
    return this.take(4).readUInt32LE(0);
  }

  /** A u64 that must fit a JavaScript safe integer (byte counts and times do). */
  u64(): number {
    const v = this.take(8).readBigUInt64LE(0);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new LayoutError(`${this.what}: value ${v} is out of range`);
    return Number(v);
  }

  expect(magic: Buffer): void {
    const got = this.take(magic.length);
    if (!got.equals(magic)) throw new LayoutError(`${this.what}: bad magic ${JSON.stringify(got.toString("latin1"))}`);
  }

  zeros(n: number): void {
    if (this.take(n).some((b) => b !== 0)) throw new LayoutError(`${this.what}: reserved bytes are not zero`);
  }
}

export class ByteWriter {
  private readonly parts: Buffer[] = [];
  private len = 0;

  get length(): number {
    return this.len;
  }

  bytes(b: Uint8Array): this {
    this.parts.push(Buffer.from(b));
    this.len += b.length;
    return this;
  }

  u8(v: number): this {
    const b = Buffer.alloc(1);
    b.writeUInt8(v);
    return this.bytes(b);
  }

  u16(v: number): this {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(v);
    return this.bytes(b);
  }

  u32(v: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    return this.bytes(b);
  }

  u64(v: number): this {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    return this.bytes(b);
  }

  zeros(n: number): this {
    return this.bytes(Buffer.alloc(n));
  }

  finish(): Buffer {
    return Buffer.concat(this.parts, this.len);
  }
}

/** A copy in memory of its own (never Node's shared pool), so it may be transferred to a thread. */
export function ownedCopy(bytes: Uint8Array): Buffer {
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return Buffer.from(copy.buffer);
}
