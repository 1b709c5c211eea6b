// Regression case found by the crash-state tester (scripts/crash/): a journal that a crash left
// with a torn last line, kept because one of its lines was refused, made the next session's first
// line part of the torn one, so that folder was never wiped.
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { ResidueJournal } from "../../src/securewipe/residue-journal-file.js";
import { encodeResidueLine, type ResidueEntry } from "../../stick-layout/residue-journal.js";
import { tempDir } from "../helpers/sticks.js";

const HOST = "0123456789abcdef0123456789abcdef";
const entry = (n: number): ResidueEntry => ({ kind: "tree", what: "run", path: `/tmp/stickvm-run-000000000000000${n}`, keep: false, createdMs: 1_700_000_000_000 + n });

test("a line appended after a torn last line is a line of its own", async (t) => {
  const stick = await tempDir(t);
  const journal = ResidueJournal.forHost(stick, HOST);
  await mkdir(join(stick, "residue"));
  const torn = encodeResidueLine(entry(2)).slice(0, 30);
  await writeFile(journal.path, encodeResidueLine(entry(1)) + torn);
  await journal.add(entry(3));
  await journal.close();
  const { entries, bad } = await ResidueJournal.forHost(stick, HOST).read();
  assert.deepEqual(entries, [entry(1), entry(3)]);
  assert.equal(bad.length, 1, bad.join("; "));
});
