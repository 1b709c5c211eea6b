#!/usr/bin/env node
// The README's first command: build the demo stick (once; it is kept in demo-work/, so what
// you save under /home is there on the next run), then boot it headless on this terminal.
import { access, mkdir, rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import { progressBar } from "../src/cli/progress.js";
import { runCli } from "../src/cli/run-cli.js";
import { terminalRunIo } from "../src/cli/run-io.js";
import { DEMO_GUEST_SUMMARY } from "../src/demo/demo-guest.js";
import { buildDemoStick } from "../src/demo/demo-stick.js";
import { checkDemoTools } from "../src/demo/demo-tools.js";
import { outcomeExitCode, outcomeMessage } from "../src/run/outcome.js";
import { runStick } from "../src/run/run-stick.js";
import { STICK_FILES } from "../stick-layout/format.js";

const WORK = resolve("demo-work");
const STICK = join(WORK, "stick");
const PASSPHRASE = "demo passphrase";

async function exists(path: string): Promise<boolean> {
  return access(path).then(() => true, () => false);
}

async function main(): Promise<number> {
  checkDemoTools();
  if (await exists(join(STICK, STICK_FILES.header))) {
    console.log(`using the demo stick built earlier in ${STICK} (rm -rf ${WORK} to start over)`);
  } else {
    await rm(WORK, { recursive: true, force: true });
    await mkdir(WORK, { recursive: true });
    console.log("building the demo guest (the first time this downloads Debian's kernel) and the demo stick");
    const bar = progressBar("building", "bytes");
    const built = await buildDemoStick({ stick: STICK, work: WORK, passphrase: PASSPHRASE, guestCache: join(WORK, "guest"), extra: { onProgress: bar.update } });
    bar.end();
    console.log(`stick ${built.stickId} built in ${STICK} (passphrase: "${PASSPHRASE}"; admin keys and recovery key in ${WORK})`);
  }
  console.log(`\n${DEMO_GUEST_SUMMARY}\nCtrl-C asks the guest to power off.\n`);
  const io = terminalRunIo();
  const outcome = await runStick({ stick: STICK, unlock: { passphrase: PASSPHRASE }, headless: true, powerdownTimeoutMs: 30_000, ...io });
  io.onStatus(outcomeMessage(outcome));
  return outcomeExitCode(outcome);
}

await runCli(main);
