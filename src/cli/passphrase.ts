import { readFile } from "node:fs/promises";
import { Writable } from "node:stream";
import { createInterface } from "node:readline/promises";
import { fileError, UsageError } from "../errors/errors.js";

export const PASSPHRASE_ENV = "STICKVM_PASSPHRASE";

/** Reads a passphrase file; one trailing newline is not part of the passphrase. */
export async function readPassphraseFile(path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw fileError(err, "read passphrase file", path);
  }
  return text.replace(/\r?\n$/, "");
}

/** Asks on the terminal without echo. */
async function askPassphrase(question: string): Promise<string> {
  if (!process.stdin.isTTY) {
    throw new UsageError(`no passphrase given: use --passphrase-file FILE or set ${PASSPHRASE_ENV} (there is no terminal to ask on)`);
  }
  let muted = false;
  const output = new Writable({
    write(chunk: Buffer, _enc, done) {
      if (!muted) process.stderr.write(chunk);
      done();
    },
  });
  const rl = createInterface({ input: process.stdin, output, terminal: true });
  try {
    const answer = rl.question(question);
    muted = true;
    return await answer;
  } finally {
    rl.close();
    process.stderr.write("\n");
  }
}

/**
 * The passphrase from --passphrase-file, else STICKVM_PASSPHRASE, else a no-echo prompt
 * (asked twice when `confirm`, as for a new stick).
 */
export async function getPassphrase(opts: { passphraseFile?: string | undefined; confirm: boolean }): Promise<string> {
  let passphrase: string;
  if (opts.passphraseFile !== undefined) passphrase = await readPassphraseFile(opts.passphraseFile);
  else if (process.env[PASSPHRASE_ENV] !== undefined) passphrase = process.env[PASSPHRASE_ENV];
  else {
    passphrase = await askPassphrase("Passphrase: ");
    if (opts.confirm && (await askPassphrase("Passphrase again: ")) !== passphrase) throw new UsageError("the two passphrases differ");
  }
  if (passphrase.length === 0) throw new UsageError("the passphrase is empty");
  return passphrase;
}

/** A stick archive's passphrase (make-stick unpack): the file, else a no-echo prompt; never STICKVM_PASSPHRASE, which is a stick's. */
export async function getArchivePassphrase(passphraseFile: string | undefined): Promise<string> {
  if (passphraseFile !== undefined) return readPassphraseFile(passphraseFile);
  if (!process.stdin.isTTY) throw new UsageError("no archive passphrase given: use --passphrase-file FILE (there is no terminal to ask on)");
  return askPassphrase("Archive passphrase: ");
}
