import assert from "node:assert/strict";
import { readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { EXIT } from "../../src/cli/exit-codes.js";
import { missingCommands } from "../helpers/guest.js";
import { adminKey, FAST_KDF_ARGS, makeStick, tempDir, writeImage } from "../helpers/sticks.js";

const skip = missingCommands(["qemu-system-x86_64"]).length > 0 ? "needs qemu-system-x86_64 (Debian: qemu-system-x86)" : false;

test("make-stick build --player linux-x64=host puts the player on the stick and says so", { skip, timeout: 5 * 60_000 }, async (t) => {
  const dir = await tempDir(t);
  const { path } = await writeImage(dir, [{ random: 64 * 1024 }]);
  const out = join(dir, "stick");
  const r = makeStick(["build", "--image", path, "--out", out, "--signing-key", await adminKey(dir), "--player", "linux-x64=host", ...FAST_KDF_ARGS]);
  assert.equal(r.status, EXIT.ok, r.stderr);
  const files = /^player linux-x64: (\d+) files, (\d+) bytes$/m.exec(r.stdout);
  assert.ok(files?.[1] !== undefined, r.stdout);
  const manifest = JSON.parse(await readFile(join(out, "players", "linux-x64", "player.json"), "utf8")) as { files: unknown[] };
  assert.equal(manifest.files.length, Number(files[1]));

  const good = makeStick(["verify", "--stick", out]);
  assert.equal(good.status, EXIT.ok, good.stdout + good.stderr);
  assert.match(good.stdout, /^ok {3}player linux-x64 files/m);
  // one flipped byte in a firmware file: verify names it (damage is found; tampering would not be, FORMAT.md §22.3)
  const bios = join(out, "players", "linux-x64", "firmware", "seabios", "bios-256k.bin");
  const bytes = await readFile(bios);
  bytes[100] = (bytes[100] ?? 0) ^ 0xff;
  await writeFile(bios, bytes);
  const bad = makeStick(["verify", "--stick", out]);
  assert.equal(bad.status, EXIT.damagedStick, bad.stdout + bad.stderr);
  assert.match(bad.stdout, /FAIL player linux-x64 files.*firmware\/seabios\/bios-256k\.bin does not match its SHA-256/);
});

test("make-stick build refuses a --player it cannot make, and a policy value the launcher would refuse, with exit code 2 and nothing written", async (t) => {
  const dir = await tempDir(t);
  const { path } = await writeImage(dir, [{ random: 4096 }]);
  const out = join(dir, "stick");
  const key = await adminKey(dir);
  const build = (...extra: string[]): { status: number | null; stderr: string } => makeStick(["build", "--image", path, "--out", out, "--signing-key", key, ...FAST_KDF_ARGS, ...extra]);
  const source = build("--player", "linux-x64=/opt/qemu");
  assert.equal(source.status, EXIT.usage);
  assert.match(source.stderr, /only linux-x64=host/);
  const twice = build("--player", "linux-x64=host", "--player", "linux-x64=host");
  assert.equal(twice.status, EXIT.usage);
  assert.match(twice.stderr, /one target twice/);
  await writeFile(join(dir, "policy.json"), JSON.stringify({ network: "bridge" }));
  const policy = build("--policy", join(dir, "policy.json"));
  assert.equal(policy.status, EXIT.usage);
  assert.match(policy.stderr, /network must be "off" or "user-mode"/);
  await writeFile(join(dir, "policy.json"), JSON.stringify({ memroy: "4G" }));
  const typo = build("--policy", join(dir, "policy.json"));
  assert.equal(typo.status, EXIT.usage);
  assert.match(typo.stderr, /unknown key "memroy" \(did you mean "memory"\?\)/);
  await writeFile(join(dir, "policy.json"), JSON.stringify({ maxOfflineDays: 30 }));
  const offline = build("--policy", join(dir, "policy.json"));
  assert.equal(offline.status, EXIT.usage);
  assert.match(offline.stderr, /maxOfflineDays needs updateUrl/);
  await assert.rejects(stat(out), { code: "ENOENT" });
});
