import { StickvmError } from "../../errors/errors.js";

/** The superblock copies are intact but their MACs fail: the key is not this log's. */
export class WrongLogKeyError extends StickvmError {
  constructor(dir: string) {
    super("WRONG_PASSPHRASE", `the log in ${dir} does not open with this key: it belongs to another stick or another key (nothing was changed)`);
  }
}

/** A sealed block or record that should be there and is not readable: surfaces as EIO. */
export class LogRecordError extends StickvmError {
  constructor(where: string, why: string) {
    super("CHUNK_INVALID", `log record at ${where} is damaged: ${why}`);
  }
}
