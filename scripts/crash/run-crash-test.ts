// The crash-state tester (issue 8): records each store's workload through MemFiles, rebuilds the
// files a crash could leave after every prefix of the recorded operations, in several ways per
// prefix, and checks each store reopened on them (scenario.ts).
import { bootProfileScenario } from "./boot-profile-scenario.js";
import { systemChangesScenario, userLogScenario } from "./log-scenarios.js";
import { CrashStates, MemFiles, SECTOR, type CrashChoice, type FileOp } from "./mem-files.js";
import { prng } from "./prng.js";
import { residueJournalScenario } from "./residue-journal-scenario.js";
import type { CrashScenario, RecordedRun } from "./scenario.js";

export const SCENARIOS: readonly CrashScenario[] = [userLogScenario, systemChangesScenario, residueJournalScenario, bootProfileScenario];

/**
 * How the writes no sync made durable fare in a crash state: all lost; all kept (the plain prefix);
 * a random subset of them; a random subset of their sectors; all kept but the last cut at a sector
 * boundary; a random subset with the last cut at any byte.
 */
export const CHOICE_KINDS = ["kept", "lost", "subset", "sectors", "torn-sector", "torn-byte"] as const;
export type ChoiceKind = (typeof CHOICE_KINDS)[number];

/** The last write in `ops[0, prefix)`, whose length a torn cut is taken from. */
function lastWriteBytes(ops: FileOp[], prefix: number): number {
  for (let i = prefix - 1; i >= 0; i--) {
    const op = ops[i];
    if (op?.kind === "write") return op.data.length;
  }
  return 0;
}

export function crashChoice(kind: ChoiceKind, next: (n: number) => number, lastBytes: number): CrashChoice {
  const coin = (): boolean => next(2) === 0;
  switch (kind) {
    case "kept":
      return { keepUnsynced: () => true };
    case "lost":
      return { keepUnsynced: () => false };
    case "subset":
      return { keepUnsynced: coin };
    case "sectors":
      return { keepUnsynced: coin, keepSector: coin };
    case "torn-sector":
      return { keepUnsynced: () => true, tornBytes: SECTOR * next(Math.ceil(lastBytes / SECTOR) + 1) };
    case "torn-byte":
      return { keepUnsynced: coin, tornBytes: next(lastBytes + 1) };
  }
}

export interface CrashTestOptions {
  /** Crash states to check in all (at least; every prefix of each recorded run is checked). */
  states: number;
  seed?: number;
  /** Only the stores whose names include this. */
  only?: string;
  progress?: (line: string) => void;
}

export interface StoreResult {
  store: string;
  states: number;
  runs: number;
  operations: number;
  failures: string[];
}

export interface CrashTestReport {
  states: number;
  seconds: number;
  stores: StoreResult[];
}

/** Checks a crash after every 8th state goes on working: a new change survives a reopening. */
const GO_ON_EVERY = 8;
/** A store stops after this many failures: they usually share one cause. */
const MAX_FAILURES = 5;

export async function runCrashTest(o: CrashTestOptions): Promise<CrashTestReport> {
  const started = Date.now();
  const seed = o.seed ?? 1;
  const scenarios = SCENARIOS.filter((s) => o.only === undefined || s.name.includes(o.only));
  const weights = scenarios.reduce((n, s) => n + s.weight, 0);
  const stores: StoreResult[] = [];
  for (const s of scenarios) {
    const share = Math.ceil((o.states * s.weight) / weights);
    const result: StoreResult = { store: s.name, states: 0, runs: 0, operations: 0, failures: [] };
    for (let run = 0; result.states < share && result.failures.length < MAX_FAILURES; run++) {
      const runSeed = seed * 1000 + run;
      const recorded = await s.record(runSeed);
      result.runs++;
      result.operations += recorded.ops.length;
      await checkRun(s.name, runSeed, recorded, share - result.states, result);
      o.progress?.(`${s.name}: ${result.states} states, ${result.runs} runs, ${result.failures.length} failures`);
    }
    stores.push(result);
  }
  return { states: stores.reduce((n, r) => n + r.states, 0), seconds: (Date.now() - started) / 1000, stores };
}

/** Every prefix of one run, in as many ways as the budget allows (the plain prefix first). */
async function checkRun(name: string, runSeed: number, run: RecordedRun, budget: number, result: StoreResult): Promise<void> {
  const prefixes = run.ops.length + 1;
  const perPrefix = Math.min(CHOICE_KINDS.length, Math.max(1, Math.ceil(budget / prefixes)));
  const next = prng(runSeed ^ 0x5eed);
  const states = new CrashStates(run.base, run.ops);
  for (let prefix = 0; prefix < prefixes; prefix++) {
    for (let k = 0; k < perPrefix; k++) {
      // the plain prefix, then the other kinds in turn
      const kind = k === 0 ? "kept" : (CHOICE_KINDS[1 + ((prefix + k) % (CHOICE_KINDS.length - 1))] ?? "lost");
      const choice = crashChoice(kind, next, lastWriteBytes(run.ops, prefix));
      const state = new MemFiles(states.at(prefix, choice), true);
      result.states++;
      const problem = await run.check(state, prefix, result.states % GO_ON_EVERY === 0);
      if (problem === undefined) continue;
      result.failures.push(`${name}, seed ${runSeed}, crash after ${prefix} of ${run.ops.length} operations (${kind}): ${problem}`);
      if (result.failures.length >= MAX_FAILURES) return;
    }
  }
}

export function formatCrashReport(r: CrashTestReport): string {
  const lines = [`${r.states} crash states in ${r.seconds.toFixed(1)} s`];
  for (const s of r.stores) {
    lines.push(`  ${s.store}: ${s.states} states from ${s.runs} recorded runs (${s.operations} file operations), ${s.failures.length} failures`);
    for (const f of s.failures) lines.push(`    FAIL ${f}`);
  }
  return lines.join("\n");
}
