#!/usr/bin/env node
// The user's executable. Its commands (run, serve, host, wipe, rejuvenate, passwd) arrive with
// the issues that build them; until then it only describes itself.
import { Command } from "commander";
import { runCli } from "../src/cli/run-cli.js";

async function main(argv: string[]): Promise<number> {
  const program = new Command("stickvm")
    .description("Run the managed desktop on this stick")
    .version("0.1.0")
    .exitOverride();
  await program.parseAsync(argv);
  return 0;
}

await runCli(() => main(process.argv));
