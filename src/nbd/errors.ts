// The one place where errors become NBD error values (DESIGN section 4).
import { StickvmError } from "../errors/errors.js";
import { NBD_EINVAL, NBD_EIO, NBD_ENOSPC, NBD_EPERM } from "./protocol.js";

/** The client broke a MUST of the protocol where no error reply is possible: the server hangs up. */
export class ProtocolViolation extends Error {}

/** A request the server refuses before it reaches a device: unknown command, bad flags, too large, no context. */
export class BadRequestError extends Error {}

/** A request that reaches past the end of the export. */
export class BeyondEndError extends Error {}

export interface NbdError {
  /** NBD error value for the reply. */
  errno: number;
  /** A short message for a structured error chunk. */
  message: string;
  /**
   * True when the error is worth a log line: a failure of the server or of the stick under it
   * (a pulled stick, a failing flash), not a request the server refused as it should.
   */
  worthLogging: boolean;
}

/**
 * Maps an error from validation or a device to an NBD error value. Past the end: ENOSPC for
 * WRITE and WRITE_ZEROES, EINVAL for everything else, as the spec's "Error values" asks.
 */
export function toNbdError(err: unknown, storesData: boolean): NbdError {
  if (err instanceof BadRequestError) return { errno: NBD_EINVAL, message: err.message, worthLogging: false };
  if (err instanceof BeyondEndError) return { errno: storesData ? NBD_ENOSPC : NBD_EINVAL, message: err.message, worthLogging: false };
  if (err instanceof StickvmError) {
    switch (err.code) {
      case "READ_ONLY":
        return { errno: NBD_EPERM, message: err.message, worthLogging: false };
      case "NO_SPACE":
        return { errno: NBD_ENOSPC, message: err.message, worthLogging: false };
      case "OUT_OF_RANGE":
        return { errno: storesData ? NBD_ENOSPC : NBD_EINVAL, message: err.message, worthLogging: false };
      case "CHUNK_MISSING":
      case "CHUNK_INVALID":
        return { errno: NBD_EIO, message: err.message, worthLogging: false };
      case "IO":
        return { errno: NBD_EIO, message: err.message, worthLogging: true };
      default:
        return { errno: NBD_EIO, message: err.message, worthLogging: true };
    }
  }
  return { errno: NBD_EIO, message: "internal server error", worthLogging: true };
}
