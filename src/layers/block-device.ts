/**
 * The one interface every layer implements (DESIGN section 4), in the spirit of nbdkit
 * filters: a layer overrides what it changes and passes the rest down. Offsets and lengths
 * are byte counts as JavaScript safe integers. Callers (the NBD server) check ranges
 * against `size` before calling; a layer may still refuse with a typed error:
 * ReadOnlyError, NoSpaceError, OutOfRangeError, ChunkInvalidError/ChunkMissingError (EIO).
 *
 * Calls overlap: the NBD server runs a connection's requests concurrently and does not
 * order requests in flight (NBD promises no order between them). A layer must keep
 * concurrent writes to different bytes of one block correct.
 */
export interface BlockDevice {
  readonly size: number;
  /** True when writes, trims and zeroing are refused. */
  readonly readOnly: boolean;
  /** The buffer is the caller's to read, not to change: a layer may hand out its cache. */
  read(offset: number, length: number): Promise<Buffer>;
  /**
   * Optional: the bytes at [offset, offset + into.length) into the caller's buffer, which the
   * layer keeps no hold of once the promise settles, so the caller may reuse it (the NBD
   * server's reply buffers). Layers without it are read with read().
   */
  readInto?(offset: number, into: Buffer): Promise<void>;
  /** With `fua`, the data is durable before the promise resolves. */
  write(offset: number, data: Buffer, opts: WriteOptions): Promise<void>;
  /** Every write that resolved before flush() was called is durable when it resolves. */
  flush(): Promise<void>;
  /** A hint: the range may read back as anything afterwards (layers here make it read as zeros). */
  trim(offset: number, length: number): Promise<void>;
  writeZeroes(offset: number, length: number, opts: WriteOptions): Promise<void>;
  /** Extents covering [offset, offset+length) from the start, in order; may stop early. */
  blockStatus?(offset: number, length: number): Promise<Extent[]>;
  close(): Promise<void>;
}

export interface WriteOptions {
  fua: boolean;
}

/** NBD base:allocation flags, by meaning: a hole is unallocated, zero reads as zeros. */
export interface Extent {
  length: number;
  hole: boolean;
  zero: boolean;
}
