// The stop paths of `stickvm run` that need no guest OS (the system disk does not boot, so the
// firmware waits and ignores the power button): SIGTERM asks, waits, then stops QEMU; a killed
// QEMU ends the session with a clear message. Either way the stick is left closed and clean.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import { EXIT } from "../../src/cli/exit-codes.js";
import { missingCommands } from "../helpers/guest.js";
import { startRun } from "../helpers/run.js";
import { runClient, serve } from "../helpers/serve.js";
import { adminKey, fastBuild, tempDir, writeImage } from "../helpers/sticks.js";

const MiB = 1024 * 1024;
const missing = missingCommands(["qemu-system-x86_64", "qemu-img"]);
const skip = missing.length > 0 ? `needs ${missing.join(" and ")} (Debian: qemu-system-x86, qemu-utils)` : false;

/** The pid of the QEMU this launcher started (its child). */
function qemuOf(launcherPid: number | undefined): number {
  const out = spawnSync("pgrep", ["-P", String(launcherPid), "-f", "qemu-system-x86_64"], { encoding: "utf8" }).stdout.trim();
  assert.match(out, /^\d+$/, "the launcher's QEMU");
  return Number(out);
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The stick opens again, its user disk reads, and nothing holds its lock. */
async function opensClean(stick: string, dir: string): Promise<void> {
  const s = await serve(["--stick", stick, "--socket", join(dir, "check.sock")]);
  try {
    const info = runClient("qemu-img", ["info", "--output=json", `nbd+unix:///user?socket=${join(dir, "check.sock")}`]);
    assert.equal((JSON.parse(info) as { "virtual-size": number })["virtual-size"], 8 * MiB);
  } finally {
    assert.equal(await s.stop(), 0, s.output());
  }
}

test("run: SIGTERM asks the guest to power off, stops QEMU after the timeout; a killed QEMU is exit 9", { skip, timeout: 5 * 60_000 }, async (t) => {
  const dir = await tempDir(t);
  const { path: image } = await writeImage(dir, [{ random: MiB }, { zeros: 3 * MiB }]);
  const stick = join(dir, "stick");
  await fastBuild({ image, out: stick, signingKey: await adminKey(dir), userSize: 8 * MiB, localSize: 8 * MiB });

  await t.test("SIGTERM: system_powerdown, then quit after --powerdown-timeout", async () => {
    const r = startRun(["--stick", stick, "--headless", "--powerdown-timeout", "2"]);
    await r.waitFor(/starting the guest/, 60_000, "stderr");
    // QEMU is up once it answers; the firmware has no OS to hand the power button to
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const qemu = qemuOf(r.proc.pid);
    const signalled = Date.now();
    r.proc.kill("SIGTERM");
    assert.equal(await r.exited, EXIT.interrupted, r.stderr());
    const took = Date.now() - signalled;
    assert.match(r.stderr(), /asking the guest to power off/);
    assert.match(r.stderr(), /did not power off within 2 s: stopping the player/);
    assert.ok(took >= 2000 && took < 30_000, `stopped after ${took} ms`);
    assert.ok(!isRunning(qemu), "no QEMU is left");
    await opensClean(stick, dir);
  });

  await t.test("SIGTERM as the player starts: exit 130 and no QEMU left, whichever side of QMP's start it lands", async () => {
    const r = startRun(["--stick", stick, "--headless", "--powerdown-timeout", "2"]);
    await r.waitFor(/starting the guest/, 60_000, "stderr");
    const children = (): string => spawnSync("pgrep", ["-P", String(r.proc.pid)], { encoding: "utf8" }).stdout.trim();
    r.proc.kill("SIGTERM");
    const before = children();
    assert.equal(await r.exited, EXIT.interrupted, r.stderr());
    for (const pid of before.split("\n").filter((p) => p !== "")) assert.ok(!isRunning(Number(pid)), `child ${pid} is gone`);
    await opensClean(stick, dir);
  });

  await t.test("QEMU killed: exit 9 and a clear message", async () => {
    const r = startRun(["--stick", stick, "--headless"]);
    await r.waitFor(/starting the guest/, 60_000, "stderr");
    await new Promise((resolve) => setTimeout(resolve, 2000));
    process.kill(qemuOf(r.proc.pid), "SIGKILL");
    assert.equal(await r.exited, EXIT.playerFailed, r.stderr());
    assert.match(r.stderr(), /error: the player stopped unexpectedly \(killed by SIGKILL\)/);
    await opensClean(stick, dir);
  });
});
