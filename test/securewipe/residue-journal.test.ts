import assert from "node:assert/strict";
import { test } from "node:test";
import { encodeResidueLine, parseResidueJournal, residueJournalName, type ResidueEntry } from "../../stick-layout/residue-journal.js";

const entry: ResidueEntry = { kind: "tree", what: "run", path: "/dev/shm/stickvm-run-0123456789abcdef", keep: false, createdMs: 1_700_000_000_000 };

test("journal lines round-trip; a torn last line and damaged lines are reported and skipped", () => {
  const second: ResidueEntry = { ...entry, kind: "empty-dir", what: "cache-parent", path: "/home/a/.cache", keep: false };
  const text = encodeResidueLine(entry) + encodeResidueLine(second);
  assert.deepEqual(parseResidueJournal(text), { entries: [entry, second], bad: [] });
  const torn = text + encodeResidueLine({ ...entry, path: "/tmp/x" }).slice(0, 20);
  assert.deepEqual(parseResidueJournal(torn).entries, [entry, second]);
  assert.match(parseResidueJournal(torn).bad.join(), /cut short/);
  const damaged = [
    "not json",
    JSON.stringify({ v: 2, kind: "tree", what: "run", path: "/x", keep: false, createdMs: 1 }),
    JSON.stringify({ v: 1, kind: "file", what: "run", path: "/x", keep: false, createdMs: 1 }),
    JSON.stringify({ v: 1, kind: "tree", what: "home", path: "/x", keep: false, createdMs: 1 }),
    JSON.stringify({ v: 1, kind: "tree", what: "run", path: "", keep: false, createdMs: 1 }),
    JSON.stringify({ v: 1, kind: "tree", what: "run", path: "/x", keep: "no", createdMs: 1 }),
    "[]",
  ].join("\n");
  const parsed = parseResidueJournal(`${damaged}\n${encodeResidueLine(entry)}`);
  assert.deepEqual(parsed.entries, [entry]);
  assert.deepEqual(
    parsed.bad.map((b) => b.replace(/^line \d+: /, "")),
    ["not JSON", "version 2 is not supported", 'kind "file" is unknown', 'what "home" is unknown', "its path is not a path", "keep is not true or false", "version undefined is not supported"],
  );
});

test("a journal is named by a host id and nothing else", () => {
  assert.equal(residueJournalName("0123456789abcdef0123456789abcdef"), "residue/0123456789abcdef0123456789abcdef.jsonl");
  assert.throws(() => residueJournalName("../../etc/passwd"), /is not a host id/);
});
