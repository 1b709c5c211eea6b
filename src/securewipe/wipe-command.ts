import { homedir } from "node:os";
import { lockStick } from "../serve/stick-lock.js";
import type { WipeRoots } from "./allowed-roots.js";
import { hostWipeRoots } from "./host-roots.js";
import { DEFAULT_WIPE_PASSES, wipeStale, type WipeReport } from "./residue.js";
import { ResidueJournal } from "./residue-journal-file.js";
import { stickHostId } from "./stick-host-id.js";

export interface WipeOptions {
  stick: string;
  /** A cache root the sessions used besides the OS's (`--cache-dir`); a policy's cacheDir counts only once the stick is unlocked, at its next start. */
  cacheDir?: string;
  passes?: number;
}

export interface WipeResult extends WipeReport {
  journal: string;
  roots: WipeRoots;
}

/**
 * `stickvm wipe`: finishes the wipe of whatever sessions of this stick that did not end cleanly
 * left on this host, from the stick's journal for this host. It needs no passphrase (the journal
 * names host folders, checked against this host's roots). A stick in use is refused (its lock).
 */
export async function wipeHostResidue(o: WipeOptions): Promise<WipeResult> {
  const lock = await lockStick(o.stick);
  try {
    const journal = ResidueJournal.forHost(o.stick, await stickHostId(o.stick));
    const roots = hostWipeRoots({ env: process.env, platform: process.platform, home: homedir(), cacheDirs: [o.cacheDir] });
    const report = await wipeStale(journal, roots, o.passes ?? DEFAULT_WIPE_PASSES);
    return { ...report, journal: journal.path, roots };
  } finally {
    await lock.release();
  }
}
