import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { loadManifest, type Unlock } from "../chunkstore/stick-files.js";
import { fileError } from "../errors/errors.js";
import { systemChangesPolicy } from "../policy/system-changes.js";
import { discardLog, type DiscardStep } from "./discard-log.js";
import { withUnlockedStick } from "./unlocked-stick.js";

/** `system-changes-NNNNNNNN/` (FORMAT.md §2): one per base version that had persistent changes. */
const SYSTEM_CHANGES_FOLDER = /^system-changes-\d{8,}$/;

export interface RejuvenateOptions {
  stick: string;
  unlock: Unlock;
  /** Stands for a crash after a step (tests). */
  afterStep?: (folder: string, step: DiscardStep) => Promise<void>;
}

export interface RejuvenateResult {
  /** What the policy does with system changes: `volatile` ones never reach the stick. */
  mode: "volatile" | "persistent";
  /** The system-changes folders removed, with the bytes each held. */
  discarded: { folder: string; bytes: number }[];
}

/**
 * `stickvm rejuvenate`: discards the persistent changes to the system disk, so that it reads as
 * the signed base again; the user disk (`user/`) is not touched. Refused while a session holds
 * the stick. Folders of other base versions go too (left by an update, they are changes all the same).
 */
export async function rejuvenateStick(o: RejuvenateOptions): Promise<RejuvenateResult> {
  return withUnlockedStick(o.stick, o.unlock, async (stick) => {
    const manifest = await loadManifest(stick.dir, stick.header);
    const { mode } = systemChangesPolicy(stick.policyBytes, manifest.diskSize);
    let entries;
    try {
      entries = await readdir(stick.dir, { withFileTypes: true });
    } catch (err) {
      throw fileError(err, "list", stick.dir);
    }
    const discarded: RejuvenateResult["discarded"] = [];
    for (const e of entries.filter((e) => e.isDirectory() && SYSTEM_CHANGES_FOLDER.test(e.name)).sort((a, b) => a.name.localeCompare(b.name))) {
      const bytes = await discardLog(join(stick.dir, e.name), async (step) => {
        await o.afterStep?.(e.name, step);
      });
      discarded.push({ folder: e.name, bytes });
    }
    return { mode, discarded };
  });
}

/** What `stickvm rejuvenate` tells the person. */
export function describeRejuvenate(r: RejuvenateResult): string[] {
  if (r.discarded.length === 0) {
    return [
      r.mode === "volatile"
        ? "nothing to discard: this stick's policy keeps changes to the system disk only until the session ends (volatile)"
        : "nothing to discard: the system disk has no changes on this stick",
    ];
  }
  return [
    ...r.discarded.map((d) => `discarded ${d.folder}/ (${d.bytes} bytes of changes to the system disk)`),
    "the system disk is the signed base again at the next start; the user disk was not touched",
  ];
}
