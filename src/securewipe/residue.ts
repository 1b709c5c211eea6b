import { randomBytes } from "node:crypto";
import { mkdir, rmdir, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { ResidueEntry, ResidueWhat } from "../../stick-layout/residue-journal.js";
import { entryProblem, type WipeRoots } from "./allowed-roots.js";
import type { ResidueJournal } from "./residue-journal-file.js";
import { emptyCount, wipeTree } from "./wipe-file.js";

/** Overwrite passes by default: one, since every file is ciphertext under a key that dies with the session (THREAT-MODEL.md). */
export const DEFAULT_WIPE_PASSES = 1;

/** What became of one entry. */
export interface WipedItem {
  what: ResidueWhat;
  path: string;
  outcome: "wiped" | "gone" | "kept" | "not empty" | "refused" | "failed";
  files: number;
  dirs: number;
  bytes: number;
  /** Why it was refused or failed. */
  reason?: string;
}

export interface WipeReport {
  items: WipedItem[];
  /** Journal lines that were not entries. */
  journalProblems: string[];
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

/**
 * Wipes what the entries list, newest first (a folder made to hold another goes after it):
 * `tree` entries whole (wipe-file.ts), `empty-dir` entries only when empty; entries with
 * `keep` are left. Every entry is checked against `roots` first (allowed-roots.ts): one that
 * fails is refused and reported, never touched.
 */
export async function wipeEntries(entries: ResidueEntry[], roots: WipeRoots, passes: number): Promise<WipedItem[]> {
  const items: WipedItem[] = [];
  for (const e of [...entries].reverse()) {
    const item: WipedItem = { what: e.what, path: e.path, outcome: "wiped", ...emptyCount() };
    items.push(item);
    const problem = await entryProblem(e, roots);
    if (problem !== undefined) {
      item.outcome = "refused";
      item.reason = problem;
      continue;
    }
    if (e.keep) {
      item.outcome = "kept";
      continue;
    }
    if (!(await exists(e.path))) {
      item.outcome = "gone";
      continue;
    }
    try {
      if (e.kind === "empty-dir") {
        const removed = await rmdir(e.path).then(
          () => true,
          (err: unknown) => {
            const code = (err as NodeJS.ErrnoException).code;
            if (code === "ENOTEMPTY" || code === "EEXIST") return false;
            throw err;
          },
        );
        if (removed) item.dirs = 1;
        else item.outcome = "not empty";
      } else {
        Object.assign(item, await wipeTree(e.path, passes));
      }
    } catch (err) {
      item.outcome = "failed";
      item.reason = (err as Error).message;
    }
  }
  return items;
}

/**
 * What one session leaves on the host, journaled on the stick before it is made: the run and
 * session folders, the host cache folder (and any folder above it the launcher had to make),
 * run.sh's copy of the launcher. `finish` wipes it all (a trusted host's cache excepted) and
 * clears the journal. Without a journal (no stick to write to) it only keeps the list in memory.
 */
export class SessionResidue {
  private readonly made: ResidueEntry[] = [];

  constructor(
    private readonly journal: ResidueJournal | undefined,
    readonly roots: WipeRoots,
    /** Overwrite passes; the stick's policy may set them once it is unlocked. */
    public passes = DEFAULT_WIPE_PASSES,
  ) {}

  /** Journals the entry; `leaveAtEnd` keeps it out of this session's own wipe (a stale wipe still takes it). */
  private async record(e: Omit<ResidueEntry, "createdMs">, leaveAtEnd = false): Promise<void> {
    const entry = { ...e, createdMs: Date.now() };
    this.made.push(leaveAtEnd ? { ...entry, keep: true } : entry);
    await this.journal?.add(entry);
  }

  /** Records, then makes, a new folder of the launcher's own in `parent` (0700): `<parent>/stickvm-<what>-<16 hex digits>`. */
  async makeFolder(what: "run" | "session", parent: string): Promise<string> {
    const path = join(parent, `stickvm-${what}-${randomBytes(8).toString("hex")}`);
    await this.record({ kind: "tree", what, path, keep: false });
    await mkdir(path, { mode: 0o700 });
    return path;
  }

  /**
   * Records the host cache folder `dir` (kept at the end on a trusted host) and the folders above
   * it that do not exist yet (its root, and the root's parent), before the cache makes them.
   * Throws when more than those two are missing: the cache would create folders it may not wipe.
   */
  async recordCacheFolder(dir: string, keep: boolean): Promise<void> {
    const root = dirname(dir);
    const above = dirname(root);
    if (!(await exists(dirname(above)))) throw new Error(`${dirname(above)} does not exist`);
    for (const p of [above, root]) if (!(await exists(p))) await this.record({ kind: "empty-dir", what: "cache-parent", path: p, keep: false });
    await this.record({ kind: "tree", what: "cache", path: dir, keep });
  }

  /**
   * Records a folder someone else made for this session (run.sh's copy of the launcher), so that a
   * crash does not leave it. The session's own wipe leaves it: the launcher runs from it, and
   * run.sh removes it when the launcher ends.
   */
  async adopt(what: "launcher-copy", path: string): Promise<void> {
    await this.record({ kind: "tree", what, path, keep: false }, true);
  }

  /** Wipes what this session made (from memory: the stick may be gone), then clears the journal when it can. */
  async finish(): Promise<WipeReport> {
    const items = await wipeEntries(this.made, this.roots, this.passes);
    this.made.length = 0;
    const journalProblems: string[] = [];
    if (this.journal !== undefined) {
      await this.journal.clear().catch((err: unknown) => journalProblems.push(`the residue journal could not be cleared: ${(err as Error).message}`));
    }
    return { items, journalProblems };
  }
}

/** Finishes the wipe of a session that died: what the stick's journal for this host lists, then clears it. */
export async function wipeStale(journal: ResidueJournal, roots: WipeRoots, passes = DEFAULT_WIPE_PASSES): Promise<WipeReport> {
  const { entries, bad } = await journal.read();
  const items = await wipeEntries(entries, roots, passes);
  // a refused or failed entry stays listed: the next wipe tries again (and reports it again)
  const left = entries.filter((e) => items.some((i) => i.path === e.path && (i.outcome === "refused" || i.outcome === "failed")));
  if (left.length === 0) await journal.clear();
  return { items, journalProblems: bad };
}
