import { encodeKeySlots, makeSlot, SlotKind, withPassphraseSlot } from "../../stick-layout/keyslots.js";
import type { Unlock } from "../chunkstore/stick-files.js";
import { ARGON2_DEFAULT } from "../crypto/kdf.js";
import { UsageError } from "../errors/errors.js";
import { rewriteKeySlots, type RewriteStep } from "./keyslots-rewrite.js";
import { withUnlockedStick } from "./unlocked-stick.js";

export interface PasswdOptions {
  stick: string;
  /** The old passphrase, or the recovery key when the passphrase is forgotten. */
  unlock: Unlock;
  /** Asked only once the stick has opened, so that nobody types a new passphrase for a stick that refuses the old one. */
  newPassphrase: () => Promise<string>;
  /** Stands for a crash after a write step (tests). */
  afterStep?: (step: RewriteStep) => Promise<void>;
}

/**
 * `stickvm passwd`: seals the same secrets under a new passphrase (a new salt, the old slot's
 * argon2id cost) and rewrites only the passphrase slot; the recovery slot is kept byte for
 * byte and no data is re-encrypted. Nothing is written before the stick opened.
 */
export async function changePassphrase(o: PasswdOptions): Promise<void> {
  await withUnlockedStick(o.stick, o.unlock, async (stick) => {
    const passphrase = await o.newPassphrase();
    if (passphrase.length === 0) throw new UsageError("the new passphrase is empty");
    const kdf = stick.slots.slots.find((s) => s.kind === SlotKind.passphrase)?.kdf ?? ARGON2_DEFAULT;
    const slot = await makeSlot(stick.slots.stickId, stick.secrets, { passphrase, kdf });
    const next = encodeKeySlots(withPassphraseSlot(stick.slots, slot));
    await rewriteKeySlots(stick.dir, next, { binTorn: stick.slotsFromNext, ...(o.afterStep === undefined ? {} : { afterStep: o.afterStep }) });
  });
}
