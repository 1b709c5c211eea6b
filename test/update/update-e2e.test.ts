// End to end: a user's file under /home survives `make-stick update` of the base: boot the demo
// guest, write to /home, power off; stage a system image with one more file; boot again: the
// launcher applies the update, the new file is there, and so is the one under /home.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { copyFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { ARGON2_MIN } from "../../src/crypto/kdf.js";
import { buildDemoGuest, DEMO_PROMPT } from "../../src/demo/demo-guest.js";
import { buildDemoStick } from "../../src/demo/demo-stick.js";
import { guestCacheDir, missingCommands } from "../helpers/guest.js";
import { makeStick, PASSPHRASE, REPO_ROOT, tempDir } from "../helpers/sticks.js";

const MiB = 1024 * 1024;
const STICKVM = join(REPO_ROOT, "dist", "launcher", "stickvm.js");
const missing = missingCommands(["qemu-system-x86_64", "mke2fs", "debugfs"]);
const skip = process.platform !== "linux" ? "runs on Linux only" : missing.length > 0 ? `not installed: ${missing.join(", ")}` : false;

/** `stickvm run --headless`: types `line` at the guest's prompt and waits for the session's end. */
async function session(stick: string, home: string, line: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [STICKVM, "run", "--stick", stick, "--headless"], {
    env: { PATH: process.env.PATH ?? "", HOME: home, STICKVM_PASSPHRASE: PASSPHRASE },
    stdio: "pipe",
    detached: true,
  });
  let stdout = "";
  let stderr = "";
  let typed = false;
  child.stdout.setEncoding("utf8").on("data", (d: string) => {
    stdout += d;
    if (!typed && stdout.includes(DEMO_PROMPT)) {
      typed = true;
      child.stdin.write(`${line}\n`);
    }
  });
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const timer = setTimeout(() => { if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL"); }, 5 * 60_000);
  return new Promise((resolve) => {
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: stdout.replaceAll("\r\n", "\n"), stderr });
    });
  });
}

test("a base update keeps the user's /home: boot, write, power off; make-stick update; boot: the new base and the /home file", { skip, timeout: 15 * 60_000 }, async (t) => {
  const dir = await tempDir(t, "stickvm-update-e2e-");
  const stick = join(dir, "stick");
  await buildDemoStick({ stick, work: dir, passphrase: PASSPHRASE, guestCache: guestCacheDir(), userSize: 64 * MiB, kdf: ARGON2_MIN, extra: { players: [{ target: "linux-x64", source: "host" }] } });

  const first = await session(stick, dir, "echo kept > /home/marker; sync; poweroff");
  assert.equal(first.code, 0, first.stderr);

  // version 2 of the system disk: the same image with one more file, written by debugfs
  const v2 = join(dir, "system-v2.img");
  await copyFile((await buildDemoGuest(guestCacheDir())).systemImage, v2);
  await writeFile(join(dir, "base-note"), "base two\n");
  const debugfs = spawnSync("debugfs", ["-w", "-R", `write ${join(dir, "base-note")} /etc/stickvm-base`, v2], { encoding: "utf8" });
  assert.equal(debugfs.status, 0, debugfs.stderr);
  const update = makeStick(["update", "--stick", stick, "--image", v2, "--signing-key", join(dir, "keys", "admin.key")]);
  assert.equal(update.status, 0, update.stderr);
  assert.match(update.stdout, /base version 2 staged/);
  const added = Number(/(\d+) bytes added/.exec(update.stdout)?.[1]);
  assert.ok(added > 0 && added < 4 * MiB, `a one-file update adds little to the stick: ${update.stdout}`);

  const second = await session(stick, dir, "echo \"marker=$(cat /home/marker) base=$(cat /etc/stickvm-base)\"; poweroff");
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stderr, /base update applied: base version 1 → 2/);
  assert.match(second.stdout, /marker=kept base=base two\n/, "the new base is served and /home kept its file");
});
