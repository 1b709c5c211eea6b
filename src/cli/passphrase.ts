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

/** Asks on the terminal without echo; `otherwise` says how to give it without one. */
async function prompt(question: string, otherwise: string): Promise<string> {
  if (!process.stdin.isTTY) throw new UsageError(`no ${question.replace(/: $/, "").toLowerCase()} given: ${otherwise} (there is no terminal to ask on)`);
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
  else passphrase = await (opts.confirm ? askTwice : askOnce)("Passphrase", `use --passphrase-file FILE or set ${PASSPHRASE_ENV}`);
  if (passphrase.length === 0) throw new UsageError("the passphrase is empty");
  return passphrase;
}

function askOnce(label: string, otherwise: string): Promise<string> {
  return prompt(`${label}: `, otherwise);
}

async function askTwice(label: string, otherwise: string): Promise<string> {
  const first = await prompt(`${label}: `, otherwise);
  if ((await prompt(`${label} again: `, otherwise)) !== first) throw new UsageError("the two passphrases differ");
  return first;
}

/** A stick archive's passphrase (make-stick unpack): the file, else a no-echo prompt; never STICKVM_PASSPHRASE, which is a stick's. */
export async function getArchivePassphrase(passphraseFile: string | undefined): Promise<string> {
  if (passphraseFile !== undefined) return readPassphraseFile(passphraseFile);
  return askOnce("Archive passphrase", "use --passphrase-file FILE");
}

/** `stickvm passwd`'s new passphrase: from --new-passphrase-file, else asked twice (never from the environment, which holds the old one). */
export function getNewPassphrase(newPassphraseFile: string | undefined): Promise<string> {
  return newPassphraseFile !== undefined ? readPassphraseFile(newPassphraseFile) : askTwice("New passphrase", "use --new-passphrase-file FILE");
}
