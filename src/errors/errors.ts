// Typed errors. Each carries a stable code; exit codes are chosen from the code in
// src/cli/exit-codes.ts and NBD error numbers (later) in one mapping of their own.

export type ErrorCode =
  | "USAGE"
  | "BAD_IMAGE"
  | "BAD_ARCHIVE"
  | "MISSING_TOOL"
  | "OUTPUT_NOT_EMPTY"
  | "WRONG_PASSPHRASE"
  | "BAD_KEY_FILE"
  | "INCOMPLETE_STICK"
  | "NEWER_FORMAT"
  | "CORRUPT_STICK"
  | "CHUNK_MISSING"
  | "CHUNK_INVALID"
  | "NO_SPACE"
  | "INTERRUPTED"
  | "READ_ONLY"
  | "OUT_OF_RANGE"
  | "NO_PLAYER"
  | "HOST_TOO_SMALL"
  | "PLAYER_FAILED"
  | "POLICY_REFUSED"
  | "REVOKED"
  | "UPDATE_REFUSED"
  | "IO";

export class StickvmError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

export class UsageError extends StickvmError {
  constructor(message: string) {
    super("USAGE", message);
  }
}

export class BadImageError extends StickvmError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("BAD_IMAGE", message, options);
  }
}

export class MissingToolError extends StickvmError {
  constructor(tool: string, debianPackage: string, purpose: string) {
    super(
      "MISSING_TOOL",
      `${tool} is needed to ${purpose} but was not found on PATH; install it (Debian/Ubuntu: apt-get install ${debianPackage})`,
    );
  }
}

export class WrongPassphraseError extends StickvmError {
  constructor(what = "passphrase") {
    super("WRONG_PASSPHRASE", `wrong ${what}: no key slot of this stick opens with it (nothing was changed)`);
  }
}

/** A stick archive (make-stick unpack) that is truncated, damaged, or not a stick archive. */
export class BadArchiveError extends StickvmError {
  constructor(message: string) {
    super("BAD_ARCHIVE", message);
  }
}

/** The archive passphrase does not open a stick archive's encrypted table of contents. */
export class WrongArchivePassphraseError extends StickvmError {
  constructor(archive: string) {
    super("WRONG_PASSPHRASE", `wrong archive passphrase: the encrypted table of contents of ${archive} does not open with it (or that part of the archive is damaged); nothing was written`);
  }
}

export class BadKeyFileError extends StickvmError {
  constructor(path: string, why: string) {
    super("BAD_KEY_FILE", `${path} is not a stickvm admin key: ${why}`);
  }
}

export class IncompleteStickError extends StickvmError {
  constructor(message: string) {
    super("INCOMPLETE_STICK", message);
  }
}

/** The stick is fine, but was made by a later stickvm whose format this one cannot read. */
export class NewerFormatStickError extends StickvmError {
  constructor(message: string) {
    super("NEWER_FORMAT", message);
  }
}

export class CorruptStickError extends StickvmError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("CORRUPT_STICK", message, options);
  }
}

/** A chunk id that the store does not hold. Caches fall through to the next store on this one only. */
export class ChunkMissingError extends StickvmError {
  constructor(idHex: string) {
    super("CHUNK_MISSING", `chunk ${idHex} is not in the chunk store`);
  }
}

/** A chunk whose bytes are there but do not decrypt, decompress or hash to its id. */
export class ChunkInvalidError extends StickvmError {
  constructor(
    readonly idHex: string,
    readonly where: string,
    readonly why: string,
  ) {
    super("CHUNK_INVALID", `chunk ${idHex} at ${where} is damaged: ${why}`);
  }
}

export class NoSpaceError extends StickvmError {
  constructor(path: string, options?: { cause?: unknown }) {
    super("NO_SPACE", `no space left on the device that holds ${path}`, options);
  }
}

/** A write, trim or zeroing on a layer that does not take them. */
export class ReadOnlyError extends StickvmError {
  constructor(what: string) {
    super("READ_ONLY", `${what} is read-only`);
  }
}

/** A request beyond the end of a device. */
export class OutOfRangeError extends StickvmError {
  constructor(offset: number, length: number, size: number) {
    super("OUT_OF_RANGE", `${length} bytes at ${offset} reach past the end of a ${size}-byte device`);
  }
}

export class InterruptedError extends StickvmError {
  constructor(message: string) {
    super("INTERRUPTED", message);
  }
}

/** No QEMU to run the guest with: the message names what is missing (the stick's player, the host's QEMU, or the policy's leave to use it). */
export class NoPlayerError extends StickvmError {
  constructor(message: string) {
    super("NO_PLAYER", message);
  }
}

/** The host cannot give the guest what it needs at the least (memory). */
export class HostTooSmallError extends StickvmError {
  constructor(message: string) {
    super("HOST_TOO_SMALL", message);
  }
}

/** The player (QEMU) would not start, or ended without the guest powering off: crashed, killed, or stopped from outside. */
export class PlayerFailedError extends StickvmError {
  constructor(message: string) {
    super("PLAYER_FAILED", message);
  }
}

/** The stick's policy forbids starting now: it expired, it has been offline too long, or the host's clock was turned back. */
export class PolicyRefusedError extends StickvmError {
  constructor(message: string) {
    super("POLICY_REFUSED", message);
  }
}

/** The update repository's revocation list names this stick: it does not start again. */
export class RevokedError extends StickvmError {
  constructor(message: string) {
    super("REVOKED", message);
  }
}

/** A base update that must not be applied: signed by another key, not newer than the stick's base, tampered, or of another lineage. */
export class UpdateRefusedError extends StickvmError {
  constructor(message: string) {
    super("UPDATE_REFUSED", message);
  }
}

/** Wraps a Node system error from a file operation into a typed error with the path in its message. */
export function fileError(err: unknown, action: string, path: string): StickvmError {
  if (err instanceof StickvmError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === "ENOSPC" || code === "EDQUOT") return new NoSpaceError(path, { cause: err });
  const reason = err instanceof Error ? err.message : String(err);
  return new StickvmError("IO", `could not ${action} ${path}: ${reason}`, { cause: err });
}
