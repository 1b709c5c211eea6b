import { dirname, join } from "node:path";
import { encodeResidueLine, parseResidueJournal, residueJournalName, type ResidueEntry } from "../../stick-layout/residue-journal.js";
import { fileError } from "../errors/errors.js";
import { nodeFiles, type StoreFile, type StoreFiles } from "../util/store-files.js";

/**
 * One host's residue journal on the stick (FORMAT.md §26): appended and synced line by line,
 * read back whole, removed once everything it lists is wiped.
 */
export class ResidueJournal {
  /** The open journal and where the next line goes (one writer: the stick's lock). */
  private open: { file: StoreFile; end: number } | undefined;

  constructor(
    readonly path: string,
    private readonly files: StoreFiles = nodeFiles,
  ) {}

  static forHost(stickDir: string, hostId: string, files: StoreFiles = nodeFiles): ResidueJournal {
    return new ResidueJournal(join(stickDir, residueJournalName(hostId)), files);
  }

  /** The entries, and why any line is not one. A missing journal lists nothing. */
  async read(): Promise<{ entries: ResidueEntry[]; bad: string[] }> {
    const bytes = await this.files.readAll(this.path);
    return parseResidueJournal(bytes?.toString("utf8") ?? "");
  }

  /** Appends the entry and syncs it (and, for a new journal, its folders): it is on the stick before anything is made. */
  async add(e: ResidueEntry): Promise<void> {
    try {
      const journal = this.open ?? (await this.openForAppend());
      const line = Buffer.from(encodeResidueLine(e), "utf8");
      await journal.file.write(line, journal.end);
      journal.end += line.length;
      await journal.file.sync();
    } catch (err) {
      throw fileError(err, "write the residue journal", this.path);
    }
  }

  /**
   * Opens the journal at its end, creating it (and its folder) first when missing. A journal
   * that a crash left with a torn last line gets a newline first, so that the torn line stays
   * one bad line and the next entry a line of its own.
   */
  private async openForAppend(): Promise<{ file: StoreFile; end: number }> {
    const folder = dirname(this.path);
    await this.files.ensureFolder(folder);
    await this.files.syncFolder(dirname(folder));
    if ((await this.files.size(this.path)) === undefined) await this.files.create(this.path, 0, Buffer.alloc(0));
    await this.files.syncFolder(folder);
    const file = await this.files.open(this.path);
    let end = (await this.files.size(this.path)) ?? 0;
    try {
      const last = Buffer.alloc(1);
      if (end > 0 && (await file.read(last, end - 1)) === 1 && last[0] !== 0x0a) {
        await file.write(Buffer.from("\n"), end);
        end += 1;
      }
    } catch (err) {
      await file.close().catch(() => undefined);
      throw err;
    }
    this.open = { file, end };
    return this.open;
  }

  /** Removes the journal: everything it listed is gone (or kept on purpose). */
  async clear(): Promise<void> {
    await this.close();
    await this.files.remove(this.path);
    await this.files.syncFolder(dirname(this.path));
  }

  async close(): Promise<void> {
    const journal = this.open;
    this.open = undefined;
    await journal?.file.close().catch(() => undefined);
  }
}
