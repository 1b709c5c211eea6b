import { ReadOnlyError } from "../errors/errors.js";
import type { BlockDevice, Extent } from "./block-device.js";

/** What every read-only layer shares: writes, trims and zeroing are refused, flush has nothing to do. */
export abstract class ReadOnlyDevice implements BlockDevice {
  readonly readOnly = true;
  abstract readonly size: number;
  /** Names the device in the ReadOnlyError. */
  protected abstract readonly what: string;

  abstract read(offset: number, length: number): Promise<Buffer>;
  abstract blockStatus(offset: number, length: number): Promise<Extent[]>;

  write(): Promise<void> {
    return Promise.reject(new ReadOnlyError(this.what));
  }

  trim(): Promise<void> {
    return Promise.reject(new ReadOnlyError(this.what));
  }

  writeZeroes(): Promise<void> {
    return Promise.reject(new ReadOnlyError(this.what));
  }

  flush(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
