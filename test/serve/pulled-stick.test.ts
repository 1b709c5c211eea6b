// A stick pulled mid-write (issue 8): the stick is ext4 on a loop device whose reads a blkio
// group throttles to USB 2 speed (the slow-stick bench's device). While fio and a checker
// client write and flush, the stick goes: the server is frozen for a moment, the device's
// bytes at that instant are kept (what a pulled stick holds), and the device is cut to zero
// size, so every later I/O to it fails. The server must answer the guest's writes and flushes
// with errors from then on, never a false success, and keep running; the kept bytes, put back
// on a new loop device, open as a stick that holds every write a flush acknowledged.
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { makeSlowStick, slowStickUnsupported } from "../../scripts/bench/slow-stick/slow-device.js";
import { serve, STICKVM, type Served } from "../helpers/serve.js";
import { adminKey, fastBuild, haveTool, tempDir, writeImage } from "../helpers/sticks.js";
import { prng } from "../layers/log/helpers.js";
import { CHECK_BLOCK, RegionModel } from "./kill-checker.js";

const MiB = 1024 * 1024;
const EIO = 5;
const why = slowStickUnsupported() ?? (haveTool("fio") ? undefined : "fio is not installed");

/** A timer that does not keep the test process alive once the test is done. */
function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}

test("a stick pulled during writes: errors to the guest from then on, and every flushed write is on the stick when it comes back", { skip: why ?? false, timeout: 180_000 }, async (t) => {
  const dir = await tempDir(t);
  const { path: image } = await writeImage(dir, [{ random: 2 * MiB }, { zeros: 14 * MiB }]);
  const policy = join(dir, "policy.json");
  await writeFile(policy, JSON.stringify({ systemChanges: "persistent", systemChangesSize: "16M" }));
  const backing = join(dir, "stick.img");
  const slow = await makeSlowStick({ backing, bytes: 256 * MiB, mountPoint: join(dir, "mnt"), group: `stickvm-pull-${process.pid}`, readBytesPerSecond: 25 * MiB, readIops: 1500 });
  t.after(() => slow.close().catch(() => undefined));
  const stick = join(slow.mountPoint, "stick");
  await fastBuild({ image, out: stick, signingKey: await adminKey(dir), userSize: 16 * MiB, localSize: 4 * MiB, policy });
  execFileSync("sync");
  const socket = join(dir, "nbd.sock");
  const launcher = slow.throttled([process.execPath, STICKVM]);
  let s: Served = await serve(["--stick", stick, "--socket", socket], {}, launcher);
  t.after(() => s.proc.kill("SIGKILL"));
  const uri = (name: string): string => s.exports.get(name)?.uri ?? "";

  const random = prng(4242);
  const regions = [
    new RegionModel({ name: "user", offset: 8 * MiB, blocks: (8 * MiB) / CHECK_BLOCK }),
    new RegionModel({ name: "system", offset: 8 * MiB, blocks: (8 * MiB) / CHECK_BLOCK }),
  ];
  const load = spawn("fio", ["--name=load", "--ioengine=nbd", `--uri=${uri("user")}`, `--directory=${dir}`, "--rw=randwrite", "--bsrange=4k-1m", "--iodepth=8", "--size=8m", "--fsync=8", "--time_based", "--runtime=60", "--verify_state_save=0"], { stdio: "ignore" });
  t.after(() => load.kill("SIGKILL"));
  const hammers = regions.map((m) => m.hammer(socket, () => random(1 << 30) / (1 << 30), true));
  await sleep(1500);

  // the pull: what the device holds at this instant is what the stick keeps
  const pid = s.proc.pid ?? 0;
  process.kill(pid, "SIGSTOP");
  const kept = join(dir, "kept.img");
  execFileSync("cp", ["--sparse=always", backing, kept]);
  execFileSync("truncate", ["-s", "0", backing]);
  execFileSync("losetup", ["-c", slow.loop]);
  process.kill(pid, "SIGCONT");

  const pulledAt = Date.now();
  const ended = await Promise.race([Promise.all(hammers), sleep(60_000).then(() => undefined)]);
  assert.ok(ended !== undefined, "the server answered every request after the pull (no hang)");
  for (const [i, h] of ended.entries()) {
    assert.equal(h.error, EIO, `${regions[i]?.region.name ?? ""}: a write or flush after the pull failed with EIO`);
    assert.ok(h.flushes > 0, "flushes were acknowledged before the pull");
  }
  t.diagnostic(`the checkers saw EIO ${Date.now() - pulledAt} ms after the pull`);
  assert.equal(s.proc.exitCode, null, `the server still runs after the stick went: ${s.output()}`);
  assert.doesNotMatch(s.output(), /^\s+at /m, "no stack trace");
  // one clear line per failing file, not one per request
  const told = s.output().match(/^warning: export (user|system): could not (write|sync|read) \S+: EIO/gm) ?? [];
  assert.ok(told.length >= 1 && told.length <= 12, `the server says what failed, a few lines at most: ${s.output()}`);
  s.proc.kill("SIGKILL");
  await new Promise((r) => s.proc.once("exit", r));
  load.kill("SIGKILL");

  await slow.close();

  // the stick comes back: its kept bytes on a new loop device
  const back = execFileSync("losetup", ["--find", "--show", kept], { encoding: "utf8" }).trim();
  const mnt = join(dir, "back");
  await mkdir(mnt);
  execFileSync("mount", [back, mnt]);
  try {
    s = await serve(["--stick", join(mnt, "stick"), "--socket", socket]);
    for (const m of regions) assert.deepEqual(await m.check(socket), [], "every acknowledged flush is on the stick");
    assert.equal(await s.stop(), 0, s.output());
  } finally {
    // here, not in an after hook: those run after the temp folder's removal
    s.proc.kill("SIGKILL");
    spawnSync("umount", ["-l", mnt]);
    spawnSync("losetup", ["-d", back]);
  }
});
