#!/usr/bin/env node
// `npm run kill-test -- --rounds N`: the kill -9 rounds of test/serve/kill-rounds.test.ts, more of them.
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Command } from "commander";

const program = new Command("kill-test")
  .description("kill -9 `stickvm serve` during fio writes, restart, verify everything flushed")
  .option("--rounds <n>", "rounds of kill and restart", "50")
  .parse();
const { rounds } = program.opts<{ rounds: string }>();
if (!/^[1-9]\d*$/.test(rounds)) program.error(`--rounds must be a whole number from 1, not "${rounds}"`);
const testFile = join(dirname(fileURLToPath(import.meta.url)), "..", "test", "serve", "kill-rounds.test.js");
const r = spawnSync(process.execPath, ["--test", testFile], { stdio: "inherit", env: { ...process.env, STICKVM_KILL_ROUNDS: rounds } });
process.exitCode = r.status ?? 1;
