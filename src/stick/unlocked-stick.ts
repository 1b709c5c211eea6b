import type { StickHeader } from "../../stick-layout/header.js";
import type { KeySlotsFile } from "../../stick-layout/keyslots.js";
import { wipeSecrets, type StickSecrets } from "../../stick-layout/secrets.js";
import { authenticHeader, checkSlotsBelong, loadPolicyBytes, readHeaderCopies, readKeySlotsFile, unlock, type Unlock } from "../chunkstore/stick-files.js";
import { lockStick } from "../serve/stick-lock.js";

/** What a command that changes a stick in place needs: its authenticated header, its secrets and its key slots. */
export interface UnlockedStick {
  dir: string;
  header: StickHeader;
  secrets: StickSecrets;
  slots: KeySlotsFile;
  /** keyslots.bin is torn and the slots came from keyslots.new (FORMAT.md §30). */
  slotsFromNext: boolean;
  policyBytes: Buffer | undefined;
}

/**
 * Runs `change` on the unlocked stick while holding its lock, so that no session serves it
 * meanwhile; the secrets are overwritten and the lock released after, whatever happened.
 * A missing stick is named before the lock is tried (the lock file goes into the stick).
 */
export async function withUnlockedStick<T>(dir: string, how: Unlock, change: (stick: UnlockedStick) => Promise<T>): Promise<T> {
  await readHeaderCopies(dir);
  const lock = await lockStick(dir);
  try {
    const copies = await readHeaderCopies(dir);
    const { slots, fromNext } = await readKeySlotsFile(dir);
    checkSlotsBelong(copies, slots);
    const secrets = await unlock(slots, how);
    try {
      const header = authenticHeader(copies, secrets, slots);
      const policyBytes = await loadPolicyBytes(dir, header);
      return await change({ dir, header, secrets, slots, slotsFromNext: fromNext, policyBytes });
    } finally {
      wipeSecrets(secrets);
    }
  } finally {
    await lock.release();
  }
}
