import { readFile } from "node:fs/promises";
import { parseRecoveryKey } from "../../stick-layout/recovery-key.js";
import type { Unlock } from "../chunkstore/stick-files.js";
import { fileError, UsageError } from "../errors/errors.js";
import { getPassphrase } from "./passphrase.js";

/** Turns --recovery-key-file or the passphrase options into an Unlock. */
export async function readUnlock(o: { passphraseFile?: string | undefined; recoveryKeyFile?: string | undefined }): Promise<Unlock> {
  if (o.recoveryKeyFile !== undefined) {
    let text: string;
    try {
      text = await readFile(o.recoveryKeyFile, "utf8");
    } catch (err) {
      throw fileError(err, "read recovery key file", o.recoveryKeyFile);
    }
    const recoveryKey = parseRecoveryKey(text);
    if (recoveryKey === undefined) throw new UsageError(`${o.recoveryKeyFile} does not hold a recovery key (SVMR-…), or it has a typo`);
    return { recoveryKey };
  }
  return { passphrase: await getPassphrase({ passphraseFile: o.passphraseFile, confirm: false }) };
}
