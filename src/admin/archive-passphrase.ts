// The passphrase of a stick archive (FORMAT.md §31): chosen by the admin, or generated here.
import { randomBytes } from "node:crypto";
import { base32 } from "../../stick-layout/recovery-key.js";
import { UsageError } from "../errors/errors.js";

/**
 * 7-Zip derives the archive key with 2^19 rounds of SHA-256, no salt and no memory cost, so a
 * guessing attack on a stolen archive is cheap per guess: a chosen passphrase must be long.
 */
export const MIN_ARCHIVE_PASSPHRASE_LENGTH = 16;
/** 160 random bits for a generated one. */
const GENERATED_BYTES = 20;

/** A random passphrase in groups of four base32 characters (32 characters, 160 bits). */
export function generateArchivePassphrase(): string {
  return (base32(randomBytes(GENERATED_BYTES)).match(/.{1,4}/g) ?? []).join("-");
}

/** 7-Zip reads the passphrase as one line: it cannot hold a line break. `forNewArchive` also asks for the length above. */
export function checkArchivePassphrase(passphrase: string, forNewArchive: boolean): void {
  if (passphrase.length === 0) throw new UsageError("the archive passphrase is empty");
  if (/[\r\n\0]/.test(passphrase)) throw new UsageError("the archive passphrase must be one line (no line break or NUL)");
  if (forNewArchive && Array.from(passphrase).length < MIN_ARCHIVE_PASSPHRASE_LENGTH) {
    throw new UsageError(
      `the archive passphrase has fewer than ${MIN_ARCHIVE_PASSPHRASE_LENGTH} characters: 7-Zip's key derivation is cheap to attack, so use a long one, or leave out --passphrase-file to have one generated`,
    );
  }
}
