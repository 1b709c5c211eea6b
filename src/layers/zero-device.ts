import type { Extent } from "./block-device.js";
import { ReadOnlyDevice } from "./read-only-device.js";

/** The bottom of a stack that starts empty (the local disk, a user disk with no template): all zeros, read-only. */
export class ZeroDevice extends ReadOnlyDevice {
  protected readonly what = "the zero device";

  constructor(readonly size: number) {
    super();
  }

  read(_offset: number, length: number): Promise<Buffer> {
    return Promise.resolve(Buffer.alloc(length));
  }

  readInto(_offset: number, into: Buffer): Promise<void> {
    into.fill(0);
    return Promise.resolve();
  }

  blockStatus(_offset: number, length: number): Promise<Extent[]> {
    return Promise.resolve([{ length, hole: true, zero: true }]);
  }
}
