import assert from "node:assert/strict";
import { readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { EXIT } from "../../src/cli/exit-codes.js";
import type { DiscardStep } from "../../src/stick/discard-log.js";
import { describeRejuvenate, rejuvenateStick } from "../../src/stick/rejuvenate.js";
import { runClient as run, serve, type Served } from "../helpers/serve.js";
import { stickvm } from "../helpers/stickvm.js";
import { adminKey, fastBuild, haveTool, PASSPHRASE, tempDir, writeImage } from "../helpers/sticks.js";

const MiB = 1024 * 1024;
const CHANGES = "system-changes-00000001";
const missing = ["qemu-img", "qemu-io"].filter((t) => !haveTool(t));
const skip = missing.length > 0 ? `not installed: ${missing.join(", ")}` : false;

class Crash extends Error {}

async function persistentStick(t: { after: (fn: () => Promise<void>) => void }): Promise<{ dir: string; stick: string; image: string }> {
  const dir = await tempDir(t);
  const { path: image } = await writeImage(dir, [{ random: 2 * MiB }, { zeros: 2 * MiB }]);
  const policy = join(dir, "policy.json");
  await writeFile(policy, JSON.stringify({ systemChanges: "persistent", systemChangesSize: "4M" }));
  const stick = join(dir, "stick");
  await fastBuild({ image, out: stick, signingKey: await adminKey(dir), userSize: 4 * MiB, policy });
  return { dir, stick, image };
}

const uri = (s: Served, name: string): string => s.exports.get(name)?.uri ?? "";

/** Writes a pattern over the system disk's first MiB and flushes it. */
function changeSystem(s: Served): void {
  run("qemu-io", ["-f", "raw", "-c", `write -P 0x6b 0 ${MiB}`, "-c", "flush", uri(s, "system")]);
}

test("stickvm rejuvenate: the system disk reads as the base again and the user disk keeps its data; refused while served and with a wrong passphrase", { skip }, async (t) => {
  const { dir, stick, image } = await persistentStick(t);
  const socket = join(dir, "nbd.sock");
  let s = await serve(["--stick", stick, "--socket", socket]);
  t.after(() => s.proc.kill("SIGKILL"));
  changeSystem(s);
  run("qemu-io", ["-f", "raw", "-c", "write -P 0x3c 8192 100000", "-c", "flush", uri(s, "user")]);

  const busy = stickvm(["rejuvenate", "--stick", stick]);
  assert.equal(busy.status, EXIT.usage, busy.stderr);
  assert.match(busy.stderr, /the stick is in use by process \d+/);
  assert.equal(await s.stop(), 0, s.output());

  await writeFile(join(dir, "wrong.txt"), "not it\n");
  const wrong = stickvm(["rejuvenate", "--stick", stick, "--passphrase-file", join(dir, "wrong.txt")]);
  assert.equal(wrong.status, EXIT.wrongPassphrase, wrong.stderr);
  assert.match(wrong.stderr, /wrong passphrase/);
  assert.ok((await readdir(stick)).includes(CHANGES), "a wrong passphrase discards nothing");

  const missingStick = stickvm(["rejuvenate", "--stick", join(dir, "nope")]);
  assert.equal(missingStick.status, EXIT.usage);
  assert.match(missingStick.stderr, /no stick at/);

  const ok = stickvm(["rejuvenate", "--stick", stick]);
  assert.equal(ok.status, EXIT.ok, ok.stderr);
  assert.match(ok.stdout, new RegExp(`discarded ${CHANGES}/ \\(\\d+ bytes`));
  assert.match(ok.stdout, /the user disk was not touched/);
  assert.ok(!(await readdir(stick)).includes(CHANGES));

  s = await serve(["--stick", stick, "--socket", socket]);
  run("qemu-img", ["compare", "-f", "raw", "-F", "raw", image, uri(s, "system")]);
  run("qemu-io", ["-f", "raw", "-c", "read -P 0x3c 8192 100000", uri(s, "user")]);
  assert.equal(await s.stop(), 0, s.output());
});

test("a crash after each step of rejuvenate leaves a system disk that reads the changes or the base, never garbage; rejuvenate then finishes", { skip }, async (t) => {
  const { dir, stick, image } = await persistentStick(t);
  const socket = join(dir, "nbd.sock");
  let s = await serve(["--stick", stick, "--socket", socket]);
  t.after(() => s.proc.kill("SIGKILL"));
  const steps: DiscardStep[] = ["superblock removed", "log files removed", "folder removed"];
  for (const crashAt of steps) {
    changeSystem(s);
    assert.equal(await s.stop(), 0, s.output());
    await assert.rejects(
      rejuvenateStick({
        stick,
        unlock: { passphrase: PASSPHRASE },
        afterStep: (_folder, step) => (step === crashAt ? Promise.reject(new Crash(step)) : Promise.resolve()),
      }),
      Crash,
    );
    // every step is past the commit point (the superblock's removal): the base, whole
    s = await serve(["--stick", stick, "--socket", socket]);
    run("qemu-img", ["compare", "-f", "raw", "-F", "raw", image, uri(s, "system")]);
  }
  assert.equal(await s.stop(), 0, s.output());
  const again = await rejuvenateStick({ stick, unlock: { passphrase: PASSPHRASE } });
  assert.deepEqual(again.discarded.map((d) => d.folder), [CHANGES], "the log the last serve made is discarded");
  assert.ok(!(await readdir(stick)).includes(CHANGES));
  assert.deepEqual(describeRejuvenate(await rejuvenateStick({ stick, unlock: { passphrase: PASSPHRASE } })), ["nothing to discard: the system disk has no changes on this stick"]);
});

test("rejuvenate in volatile mode says there is nothing to discard", async (t) => {
  const dir = await tempDir(t);
  const { path: image } = await writeImage(dir, [{ random: 64 * 1024 }]);
  const stick = join(dir, "stick");
  await fastBuild({ image, out: stick, signingKey: await adminKey(dir) });
  const before = (await readdir(stick)).sort();
  const r = stickvm(["rejuvenate", "--stick", stick]);
  assert.equal(r.status, EXIT.ok, r.stderr);
  assert.match(r.stdout, /nothing to discard: this stick's policy keeps changes to the system disk only until the session ends \(volatile\)/);
  assert.deepEqual((await readdir(stick)).sort(), before);
});
