// The residue journal (FORMAT.md §26): one file per host on the stick, `residue/<host id>.jsonl`,
// a line of JSON per thing the launcher is about to create on that host. Lines are appended and
// synced one at a time; a line without its newline (a write cut short) is ignored.

export const RESIDUE_DIR = "residue";
export const RESIDUE_JOURNAL_VERSION = 1;
/** A host id as src/host/host-id.ts makes it: 16 bytes in hex. */
const HOST_ID = /^[0-9a-f]{32}$/;

/** What the launcher made: a folder of its own, wiped whole, or a parent folder it had to create, removed only when empty. */
export type ResidueKind = "tree" | "empty-dir";
/** Which of the launcher's places it is in, and so which root and name it must have. */
export type ResidueWhat = "run" | "session" | "cache" | "cache-parent" | "launcher-copy";

export interface ResidueEntry {
  kind: ResidueKind;
  what: ResidueWhat;
  /** Absolute path on the host. */
  path: string;
  /** A trusted host's cache: left in place at the end of a session. */
  keep: boolean;
  createdMs: number;
}

const KINDS: readonly ResidueKind[] = ["tree", "empty-dir"];
const WHATS: readonly ResidueWhat[] = ["run", "session", "cache", "cache-parent", "launcher-copy"];

export function residueJournalName(hostId: string): string {
  if (!HOST_ID.test(hostId)) throw new Error(`${hostId} is not a host id`);
  return `${RESIDUE_DIR}/${hostId}.jsonl`;
}

export function encodeResidueLine(e: ResidueEntry): string {
  return `${JSON.stringify({ v: RESIDUE_JOURNAL_VERSION, kind: e.kind, what: e.what, path: e.path, keep: e.keep, createdMs: e.createdMs })}\n`;
}

/** The entries of a journal file, and the lines that are not entries (damage, a torn last line), each with why. */
export function parseResidueJournal(text: string): { entries: ResidueEntry[]; bad: string[] } {
  const entries: ResidueEntry[] = [];
  const bad: string[] = [];
  const lines = text.split("\n");
  const torn = lines.pop();
  if (torn !== undefined && torn !== "") bad.push("the last line was cut short (a crash while it was written): ignored");
  for (const [i, line] of lines.entries()) {
    const e = parseLine(line);
    if (typeof e === "string") bad.push(`line ${i + 1}: ${e}`);
    else entries.push(e);
  }
  return { entries, bad };
}

function parseLine(line: string): ResidueEntry | string {
  let o: unknown;
  try {
    o = JSON.parse(line);
  } catch {
    return "not JSON";
  }
  if (typeof o !== "object" || o === null) return "not an object";
  const r = o as Record<string, unknown>;
  if (r.v !== RESIDUE_JOURNAL_VERSION) return `version ${String(r.v)} is not supported`;
  if (!KINDS.includes(r.kind as ResidueKind)) return `kind ${JSON.stringify(r.kind)} is unknown`;
  if (!WHATS.includes(r.what as ResidueWhat)) return `what ${JSON.stringify(r.what)} is unknown`;
  if (typeof r.path !== "string" || r.path === "" || r.path.includes("\0")) return "its path is not a path";
  if (typeof r.keep !== "boolean") return "keep is not true or false";
  if (typeof r.createdMs !== "number" || !Number.isSafeInteger(r.createdMs)) return "createdMs is not a time";
  return { kind: r.kind as ResidueKind, what: r.what as ResidueWhat, path: r.path, keep: r.keep, createdMs: r.createdMs };
}
