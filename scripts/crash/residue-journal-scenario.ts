// The residue journal (FORMAT.md §26): sessions append a line before each folder they make,
// a finished wipe clears the journal, and a new session appends to what the last one left.
// After a crash every acknowledged line since the last acknowledged clear must read back, in
// order, and no line that was never written may appear.
import { ResidueJournal } from "../../src/securewipe/residue-journal-file.js";
import type { ResidueEntry } from "../../stick-layout/residue-journal.js";
import { MemFiles } from "./mem-files.js";
import { prng } from "./prng.js";
import type { CrashScenario, RecordedRun } from "./scenario.js";

const STICK = "/stick";
const HOST = "0123456789abcdef0123456789abcdef";
const STEPS = 60;

interface JournalEvent {
  kind: "add" | "clear";
  entry?: ResidueEntry;
  /** Recorded operations when it was called, and when it resolved. */
  start: number;
  end: number;
}

function entry(n: number, next: (n: number) => number): ResidueEntry {
  // long paths now and then, so that lines cross sector boundaries
  const tail = "x".repeat(next(4) === 0 ? 300 + next(400) : 0);
  return { kind: "tree", what: "run", path: `/tmp/stickvm-run-${n.toString(16).padStart(16, "0")}${tail}`, keep: false, createdMs: 1_700_000_000_000 + n };
}

/** Why `got` breaks the journal's promises after a crash at `prefix`, or undefined. */
function problemWith(got: ResidueEntry[], events: JournalEvent[], prefix: number): string | undefined {
  // lines added after the last acknowledged clear may be there; those acknowledged since the last clear begun must be
  const lastClear = (done: (e: JournalEvent) => boolean): number => events.reduce((last, e, i) => (e.kind === "clear" && done(e) ? i : last), -1);
  const lastAcked = lastClear((e) => e.end <= prefix);
  const lastBegun = lastClear((e) => e.start < prefix);
  const may = events.slice(lastAcked + 1).flatMap((e) => (e.kind === "add" && e.entry ? [e.entry.path] : []));
  const must = events.slice(lastBegun + 1).flatMap((e) => (e.kind === "add" && e.entry && e.end <= prefix ? [e.entry.path] : []));
  const paths = got.map((e) => e.path);
  const stranger = paths.find((p) => !may.includes(p));
  if (stranger !== undefined) return `the journal lists ${stranger}, which no line since the last clear named`;
  const lost = must.find((p) => !paths.includes(p));
  if (lost !== undefined) return `the acknowledged line for ${lost} is lost`;
  const order = paths.map((p) => may.indexOf(p));
  if (order.some((v, i) => i > 0 && v <= (order[i - 1] ?? -1))) return `the journal's lines are out of order or repeated`;
  return undefined;
}

export const residueJournalScenario: CrashScenario = {
  name: "residue journal",
  weight: 1.5,
  async record(seed: number): Promise<RecordedRun> {
    const next = prng(seed);
    const files = new MemFiles();
    const base = files.snapshot();
    files.recording = true;
    const events: JournalEvent[] = [];
    let journal = ResidueJournal.forHost(STICK, HOST, files);
    let n = 0;
    for (let step = 0; step < STEPS; step++) {
      const roll = next(100);
      const start = files.ops.length;
      if (roll < 80) {
        const e = entry(++n, next);
        await journal.add(e);
        events.push({ kind: "add", entry: e, start, end: files.ops.length });
      } else if (roll < 90) {
        await journal.clear();
        events.push({ kind: "clear", start, end: files.ops.length });
      } else {
        // the session ends; the next one appends to what it left
        await journal.close();
        journal = ResidueJournal.forHost(STICK, HOST, files);
      }
    }
    await journal.close();
    files.recording = false;

    const check = async (state: MemFiles, prefix: number, goOn: boolean): Promise<string | undefined> => {
      const reopened = ResidueJournal.forHost(STICK, HOST, state);
      try {
        const problem = problemWith((await reopened.read()).entries, events, prefix);
        if (problem !== undefined || !goOn) return problem;
        // the next session appends after whatever the crash left
        const e = entry(1e6 + prefix, next);
        await reopened.add(e);
        await reopened.close();
        const after = await ResidueJournal.forHost(STICK, HOST, state).read();
        if (after.entries.at(-1)?.path !== e.path) return `a line added after the crash does not read back (${after.bad.join("; ")})`;
        return problemWith(after.entries.slice(0, -1), events, prefix);
      } catch (err) {
        return `the journal failed: ${(err as Error).message}`;
      } finally {
        await reopened.close();
      }
    };
    return { base, ops: files.ops, check };
  },
};
