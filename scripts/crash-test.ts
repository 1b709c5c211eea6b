#!/usr/bin/env node
// `npm run crash-test -- --states N [--seed S] [--only STORE]`: the crash-state tester of the
// stick-side stores (scripts/crash/run-crash-test.ts); exit code 1 when a crash state breaks a promise.
import { Command, InvalidArgumentError } from "commander";
import { runCli } from "../src/cli/run-cli.js";
import { EXIT } from "../src/cli/exit-codes.js";
import { formatCrashReport, runCrashTest } from "./crash/run-crash-test.js";

function count(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError("a positive whole number");
  return n;
}

async function main(argv: string[]): Promise<number> {
  const o = new Command("crash-test")
    .option("--states <n>", "crash states to check, at least", count, 10_000)
    .option("--seed <n>", "first seed of the recorded workloads", count, 1)
    .option("--only <store>", "only the stores whose names include this")
    .exitOverride()
    .parse(argv)
    .opts<{ states: number; seed: number; only?: string }>();
  const progress = (line: string): void => {
    console.error(line);
  };
  const report = await runCrashTest({ ...o, progress });
  console.log(formatCrashReport(report));
  return report.stores.some((s) => s.failures.length > 0) ? EXIT.failure : EXIT.ok;
}

await runCli(() => main(process.argv));
