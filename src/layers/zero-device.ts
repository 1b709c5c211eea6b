import { ReadOnlyError } from "../errors/errors.js";
import type { BlockDevice, Extent } from "./block-device.js";

/** The bottom of a stack that starts empty (the local disk, a user disk with no template): all zeros, read-only. */
export class ZeroDevice implements BlockDevice {
  readonly readOnly = true;
  constructor(readonly size: number) {}

  read(_offset: number, length: number): Promise<Buffer> {
    return Promise.resolve(Buffer.alloc(length));
  }

  write(): Promise<void> {
    return Promise.reject(new ReadOnlyError("the zero device"));
  }

  trim(): Promise<void> {
    return Promise.reject(new ReadOnlyError("the zero device"));
  }

  writeZeroes(): Promise<void> {
    return Promise.reject(new ReadOnlyError("the zero device"));
  }

  flush(): Promise<void> {
    return Promise.resolve();
  }

  blockStatus(_offset: number, length: number): Promise<Extent[]> {
    return Promise.resolve([{ length, hole: true, zero: true }]);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
