// The crash-state tester over every stick-side store (scripts/crash/): at least 10,000 crash
// states in CI, and proof that its checks can fail.
import assert from "node:assert/strict";
import { test } from "node:test";
import { systemChangesScenario, userLogScenario } from "../../scripts/crash/log-scenarios.js";
import { crashState, MemFiles, SECTOR, type FileOp } from "../../scripts/crash/mem-files.js";
import { residueJournalScenario } from "../../scripts/crash/residue-journal-scenario.js";
import { formatCrashReport, runCrashTest, SCENARIOS } from "../../scripts/crash/run-crash-test.js";
import type { CrashScenario } from "../../scripts/crash/scenario.js";
import { SectorModel, sectorsOf, ZERO_VALUE } from "../../scripts/crash/sector-model.js";

const CI_STATES = 10_000;

test(`${CI_STATES} crash states of the user log, the system-changes log, the residue journal and the boot profile slots keep every promise`, async () => {
  const report = await runCrashTest({ states: CI_STATES });
  console.log(formatCrashReport(report));
  assert.ok(report.states >= CI_STATES, `${report.states} states`);
  assert.deepEqual(
    report.stores.map((s) => s.store),
    SCENARIOS.map((s) => s.name),
  );
  for (const s of report.stores) {
    assert.deepEqual(s.failures, [], s.store);
    assert.ok(s.states >= CI_STATES / 10, `${s.store}: ${s.states} states`);
  }
});

/** The ops of a run with every sync and folder sync made a no-op: a store that never made anything durable. */
function withoutSyncs(ops: FileOp[]): FileOp[] {
  return ops.map((op) => (op.kind === "sync" || op.kind === "syncFolder" ? { kind: "syncFolder", path: "/elsewhere" } : op));
}

async function problemWithoutSyncs(scenario: CrashScenario): Promise<string | undefined> {
  const run = await scenario.record(5);
  const state = crashState(run.base, withoutSyncs(run.ops), run.ops.length, { keepUnsynced: () => false });
  return run.check(new MemFiles(state), run.ops.length, false);
}

test("the checks notice acknowledged data a store did not make durable", async () => {
  for (const scenario of [userLogScenario, systemChangesScenario]) {
    assert.match((await problemWithoutSyncs(scenario)) ?? "", /^sector \d+ holds/, scenario.name);
  }
  assert.match((await problemWithoutSyncs(residueJournalScenario)) ?? "", /acknowledged line .* is lost/);
});

test("the sector model refuses damage, an older value, and a value never written, and allows a later one", () => {
  const model = new SectorModel(8, ZERO_VALUE);
  const first = model.nextValue();
  model.wrote(0, 8, first, { fua: false, ok: true, end: 2 });
  model.flushed(3);
  const second = model.nextValue();
  model.wrote(2, 2, second, { fua: false, ok: true, end: 5 });
  const disk = sectorsOf(first, 0, 8);
  assert.equal(model.check(disk, 3), undefined);
  assert.equal(model.check(disk, 2), undefined, "before the flush resolved, the write may be there");
  assert.equal(model.check(sectorsOf(ZERO_VALUE, 0, 8), 2), undefined, "or not");
  assert.match(model.check(sectorsOf(ZERO_VALUE, 0, 8), 3) ?? "", /^sector 0 holds write 0; acknowledged: write 1/, "once it resolved, it must");
  sectorsOf(second, 2, 1).copy(disk, 2 * SECTOR);
  assert.equal(model.check(disk, 5), undefined, "a write after the flush may be there");
  disk[3 * SECTOR + 100] = 1;
  assert.match(model.check(disk, 5) ?? "", /^sector 3 holds bytes no write put there/);
  sectorsOf(ZERO_VALUE, 3, 1).copy(disk, 3 * SECTOR);
  assert.match(model.check(disk, 5) ?? "", /^sector 3 holds write 0; acknowledged: write 1/, "older than acknowledged");
  sectorsOf(first, 4, 1).copy(disk, 3 * SECTOR);
  assert.match(model.check(disk, 5) ?? "", /^sector 3 holds bytes no write put there/, "another sector's data");
});
