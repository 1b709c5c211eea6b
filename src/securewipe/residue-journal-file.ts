import { mkdir, open, readFile, unlink, type FileHandle } from "node:fs/promises";
import { dirname, join } from "node:path";
import { encodeResidueLine, parseResidueJournal, residueJournalName, type ResidueEntry } from "../../stick-layout/residue-journal.js";
import { fileError } from "../errors/errors.js";
import { syncFolder } from "../util/durable-file.js";

/**
 * One host's residue journal on the stick (FORMAT.md §26): appended and synced line by line,
 * read back whole, removed once everything it lists is wiped.
 */
export class ResidueJournal {
  private fh: FileHandle | undefined;

  constructor(readonly path: string) {}

  static forHost(stickDir: string, hostId: string): ResidueJournal {
    return new ResidueJournal(join(stickDir, residueJournalName(hostId)));
  }

  /** The entries, and why any line is not one. A missing journal lists nothing. */
  async read(): Promise<{ entries: ResidueEntry[]; bad: string[] }> {
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return { entries: [], bad: [] };
      throw fileError(err, "read the residue journal", this.path);
    }
    return parseResidueJournal(text);
  }

  /** Appends the entry and syncs it (and, for a new journal, its folders): it is on the stick before anything is made. */
  async add(e: ResidueEntry): Promise<void> {
    try {
      if (this.fh === undefined) {
        const folder = dirname(this.path);
        await mkdir(folder, { recursive: true });
        await syncFolder(dirname(folder));
        this.fh = await open(this.path, "a", 0o600);
        await syncFolder(folder);
      }
      await this.fh.write(encodeResidueLine(e));
      await this.fh.sync();
    } catch (err) {
      throw fileError(err, "write the residue journal", this.path);
    }
  }

  /** Removes the journal: everything it listed is gone (or kept on purpose). */
  async clear(): Promise<void> {
    await this.close();
    try {
      await unlink(this.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw fileError(err, "remove the residue journal", this.path);
    }
    await syncFolder(dirname(this.path));
  }

  async close(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close().catch(() => undefined);
  }
}
