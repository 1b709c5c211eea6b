// End to end, as a user meets it: the demo stick with the Linux single executable and a bundled
// QEMU, on a noexec mount (when root can make one), started with `sh run.sh run --headless` and
// the passphrase from the environment. /home survives a power-off, other changes do not, and
// Ctrl-C asks the guest to power off so that even an unsynced write to /home is kept.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { copyFile, mkdir, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { buildExecutables, TARGETS, type BuiltExe } from "../../scripts/exe/build-exe.js";
import { DEMO_PROMPT } from "../../src/demo/demo-guest.js";
import { buildDemoStick } from "../../src/demo/demo-stick.js";
import { ARGON2_MIN } from "../../src/crypto/kdf.js";
import { EXIT } from "../../src/cli/exit-codes.js";
import { guestCacheDir, missingCommands } from "../helpers/guest.js";
import { PASSPHRASE, REPO_ROOT } from "../helpers/sticks.js";

const MiB = 1024 * 1024;
const missing = missingCommands(["qemu-system-x86_64", "mke2fs", "osslsigncode"]);
const skip = process.platform !== "linux" || process.arch !== "x64" ? "runs on linux-x64 only" : missing.length > 0 ? `not installed: ${missing.join(", ")}` : false;

let dir = "";
let exe: BuiltExe | undefined;

before(async () => {
  if (skip !== false) return;
  dir = await mkdtemp(join(tmpdir(), "stickvm-e2e-"));
  const linux = TARGETS.filter((t) => t.name === "linux-x64");
  [exe] = await buildExecutables({ distDir: join(REPO_ROOT, "dist"), outDir: join(dir, "exe"), targets: linux });
});

after(async () => {
  if (dir !== "") await rm(dir, { recursive: true, force: true });
});

interface Session {
  /** Types a line to the guest once its prompt shows, then waits for the launcher's end. */
  type: (line: string) => Promise<void>;
  interrupt: () => void;
  ended: Promise<{ code: number | null; stdout: string; stderr: string }>;
}

/** `sh run.sh run --headless` on the stick, in a process group of its own (as a terminal's job is). */
function start(stick: string, runtime: string): Session {
  const child = spawn("sh", [join(stick, "run.sh"), "run", "--headless", "--powerdown-timeout", "60"], {
    env: { PATH: process.env.PATH ?? "", HOME: dir, XDG_RUNTIME_DIR: runtime, STICKVM_PASSPHRASE: PASSPHRASE },
    stdio: "pipe",
    detached: true,
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const ended = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    child.on("close", (code) => { resolve({ code, stdout: stdout.replaceAll("\r\n", "\n"), stderr }); });
  });
  const timer = setTimeout(() => { if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL"); }, 4 * 60_000);
  void ended.then(() => { clearTimeout(timer); });
  const prompt = async (): Promise<void> => {
    for (let i = 0; !stdout.includes(DEMO_PROMPT); i++) {
      if (child.exitCode !== null || i > 3000) throw new Error(`no prompt\nstdout: ${stdout}\nstderr: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  return {
    type: async (line) => {
      await prompt();
      child.stdin.write(`${line}\n`);
    },
    // Ctrl-C in a terminal reaches the whole foreground job: run.sh and the launcher
    interrupt: () => { if (child.pid !== undefined) process.kill(-child.pid, "SIGINT"); },
    ended,
  };
}

test("the demo stick through sh run.sh and the Linux executable: /home is kept, the rest is not; Ctrl-C powers the guest off", { skip, timeout: 15 * 60_000 }, async (t) => {
  assert.ok(exe);
  const mountPoint = join(dir, "usb");
  await mkdir(mountPoint);
  const noexec = spawnSync("mount", ["-t", "tmpfs", "-o", "noexec,size=1g", "tmpfs", mountPoint]).status === 0;
  if (!noexec) t.diagnostic("could not mount a noexec tmpfs (not root?): the stick is a plain folder");
  try {
    const stick = join(mountPoint, "stick");
    const launchers = join(dir, "launchers");
    await mkdir(launchers);
    await copyFile(exe.path, join(launchers, exe.target.exe));
    await buildDemoStick({
      stick, work: dir, passphrase: PASSPHRASE, guestCache: guestCacheDir(), userSize: 64 * MiB, kdf: ARGON2_MIN,
      extra: { players: [{ target: "linux-x64", source: "host" }], launchers },
    });
    const runtime = join(dir, "runtime");
    await mkdir(runtime);
    // HOME is `dir`: a kiosk session (the demo's policy) must leave nothing in it, not even ~/.cache
    const home = (await readdir(dir)).sort();

    const first = start(stick, runtime);
    await first.type("echo kept > /home/marker; echo gone > /root/outside; sync; poweroff");
    const r1 = await first.ended;
    assert.equal(r1.code, 0, r1.stderr);
    assert.match(r1.stderr, /stickvm: the guest powered off/);
    assert.match(r1.stderr, noexec ? /player: the stick's \(QEMU .*\), copied to .*runtime.* because the stick is mounted noexec/ : /player: the stick's \(QEMU/);

    const second = start(stick, runtime);
    // the console echoes what is typed, so the checks look for results the command line cannot hold
    await second.type("echo \"marker=$(cat /home/marker) outside=$(test -e /root/outside && echo yes || echo no)\"; echo unsynced > /home/late");
    await second.type("");
    second.interrupt();
    const r2 = await second.ended;
    assert.match(r2.stdout, /marker=kept outside=no\n/, "the marker is there and /root/outside is not");
    assert.equal(r2.code, EXIT.interrupted, r2.stderr);
    assert.match(r2.stderr, /asking the guest to power off/);
    assert.match(r2.stderr, /stopped: the guest powered off/);

    const third = start(stick, runtime);
    await third.type("cat /home/late; poweroff");
    const r3 = await third.ended;
    assert.equal(r3.code, 0, r3.stderr);
    assert.match(r3.stdout, /\nunsynced\n/, "the write before Ctrl-C reached the stick: the guest flushed it while powering off");
    assert.deepEqual(await readdir(runtime), [], "nothing is left in the RAM folder");
    assert.deepEqual((await readdir(dir)).sort(), home, "nothing new in HOME");
    for (const r of [r1, r2, r3]) assert.match(r.stderr, /wiped this session's files on the host: [1-9]\d* folders/);
  } finally {
    if (noexec) spawnSync("umount", [mountPoint]);
  }
});
