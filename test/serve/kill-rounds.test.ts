// Real kills (issue 8): rounds of kill -9 on `stickvm serve` while fio writes with periodic
// flushes to the user disk and the persistent system disk, and a checker client records
// exactly what each FLUSH and FUA reply acknowledged. After each kill the server restarts on
// the same stick: fio verifies the region it finished and flushed before the kill, the
// checker finds every acknowledged block, and the regions fio was writing when the server
// died read back without an error. STICKVM_KILL_ROUNDS sets the number of rounds
// (`npm run kill-test -- --rounds N`).
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { runClient as run, serve, type Served } from "../helpers/serve.js";
import { adminKey, fastBuild, haveTool, tempDir, writeImage } from "../helpers/sticks.js";
import { prng } from "../layers/log/helpers.js";
import { CHECK_BLOCK, RegionModel } from "./kill-checker.js";

const ROUNDS = Number(process.env.STICKVM_KILL_ROUNDS ?? 50);
const MiB = 1024 * 1024;
/** The user disk: fio's flushed regions (one per round, reused after 16), fio's load, the checker. */
const USER = { size: 24 * MiB, verified: { offset: 0, each: 512 * 1024, count: 16 }, load: { offset: 8 * MiB, size: 8 * MiB }, checked: 16 * MiB };
/** The system disk: random base bytes, then zeros; fio's load and the checker write over the zeros. */
const SYSTEM = { base: 4 * MiB, size: 20 * MiB, load: { offset: 4 * MiB, size: 8 * MiB }, checked: 12 * MiB };

const missing = ["fio"].filter((t) => !haveTool(t));

function fio(uri: string, dir: string, args: string[]): string[] {
  return ["--ioengine=nbd", `--uri=${uri}`, `--directory=${dir}`, "--verify_state_save=0", ...args];
}

/** fio's flushed region of a round: written with verify headers, ended by a flush. */
function verifiedRegion(round: number, mode: "write" | "verify"): string[] {
  const slot = round % USER.verified.count;
  const common = ["--name=flushed", "--rw=randwrite", "--bs=16k", "--iodepth=8", `--randseed=${round + 1}`, `--offset=${USER.verified.offset + slot * USER.verified.each}`, `--size=${USER.verified.each}`, "--verify=crc32c", "--verify_fatal=1"];
  return mode === "write" ? [...common, "--do_verify=0", "--fsync=8", "--end_fsync=1"] : [...common, "--verify_only"];
}

interface Region {
  offset: number;
  size: number;
}

function loadJob(load: Region, round: number): string[] {
  return ["--name=load", "--rw=randrw", "--bsrange=4k-1m", "--iodepth=8", `--randseed=${round + 1000}`, `--offset=${load.offset}`, `--size=${load.size}`, "--fsync=8", "--time_based", "--runtime=60"];
}

function readBack(load: Region): string[] {
  return ["--name=read-back", "--rw=read", "--bs=1m", `--offset=${load.offset}`, `--size=${load.size}`];
}

function killNow(s: Served): Promise<void> {
  return new Promise((resolve) => {
    s.proc.once("exit", () => {
      resolve();
    });
    s.proc.kill("SIGKILL");
  });
}

function exited(p: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (p.exitCode !== null || p.signalCode !== null) resolve();
    else p.once("exit", () => { resolve(); });
  });
}

test(`${ROUNDS} rounds of kill -9 during fio writes with flushes: every flushed write survives`, { skip: missing.length > 0 ? `not installed: ${missing.join(", ")}` : false, timeout: ROUNDS * 20_000 + 60_000 }, async (t) => {
  const dir = await tempDir(t);
  const { path: image } = await writeImage(dir, [{ random: SYSTEM.base }, { zeros: SYSTEM.size - SYSTEM.base }]);
  const policy = join(dir, "policy.json");
  await writeFile(policy, JSON.stringify({ systemChanges: "persistent", systemChangesSize: "48M" }));
  const stick = join(dir, "stick");
  await fastBuild({ image, out: stick, signingKey: await adminKey(dir), userSize: USER.size, localSize: 4 * MiB, policy });
  const socket = join(dir, "nbd.sock");
  const random = prng(20261128);
  const checked = [
    new RegionModel({ name: "user", offset: USER.checked, blocks: (USER.size - USER.checked) / CHECK_BLOCK }),
    new RegionModel({ name: "system", offset: SYSTEM.checked, blocks: (SYSTEM.size - SYSTEM.checked) / CHECK_BLOCK }),
  ];

  let s = await serve(["--stick", stick, "--socket", socket]);
  t.after(() => s.proc.kill("SIGKILL"));
  const uri = (name: string): string => s.exports.get(name)?.uri ?? "";
  let flushes = 0;
  for (let round = 0; round < ROUNDS; round++) {
    run("fio", fio(uri("user"), dir, verifiedRegion(round, "write")));

    const loads = [fio(uri("user"), dir, loadJob(USER.load, round)), fio(uri("system"), dir, loadJob(SYSTEM.load, round))].map((args) => spawn("fio", args, { stdio: "ignore" }));
    const hammers = checked.map((m) => m.hammer(socket, () => random(1 << 30) / (1 << 30)));
    await new Promise((r) => setTimeout(r, 300 + random(1200)));
    await killNow(s);
    for (const h of await Promise.all(hammers)) flushes += h.flushes;
    await Promise.all(loads.map(exited));

    s = await serve(["--stick", stick, "--socket", socket]);
    run("fio", fio(uri("user"), dir, verifiedRegion(round, "verify")));
    for (const m of checked) assert.deepEqual(await m.check(socket), [], `round ${round}`);
    // what fio was writing when the server died reads back without an error
    run("fio", fio(uri("user"), dir, readBack(USER.load)));
    run("fio", fio(uri("system"), dir, readBack(SYSTEM.load)));
  }
  // every flushed region fio wrote in the last 16 rounds still verifies
  for (let round = Math.max(0, ROUNDS - USER.verified.count); round < ROUNDS; round++) run("fio", fio(uri("user"), dir, verifiedRegion(round, "verify")));
  assert.ok(flushes >= ROUNDS, `the checker's flushes were acknowledged before the kills (${flushes} in ${ROUNDS} rounds)`);
  assert.equal(await s.stop(), 0, s.output());
});
