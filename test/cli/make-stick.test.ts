import assert from "node:assert/strict";
import { open, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { EXIT } from "../../src/cli/exit-codes.js";
import { packFileName } from "../../stick-layout/format.js";
import { FAST_KDF_ARGS, makeStick, REPO_ROOT, tempDir, writeImage } from "../helpers/sticks.js";

test("make-stick keygen, build, verify and info work end to end as commands", async (t) => {
  const dir = await tempDir(t);
  const keys = join(dir, "keys");

  const kg = makeStick(["keygen", "--out", keys]);
  assert.equal(kg.status, 0, kg.stderr);
  assert.equal((await stat(join(keys, "admin.key"))).mode & 0o777, 0o600, "secret key readable by its owner only");
  const again = makeStick(["keygen", "--out", keys]);
  assert.notEqual(again.status, 0, "keygen never overwrites a key");
  assert.match(again.stderr, /admin\.key/);

  const { path } = await writeImage(dir, [{ random: 300 * 1024 }, { zeros: 128 * 1024 }]);
  const out = join(dir, "stick");
  await writeFile(join(dir, "pass.txt"), "from a file\n");
  const build = makeStick(
    ["build", "--image", path, "--out", out, "--signing-key", join(keys, "admin.key"), "--passphrase-file", join(dir, "pass.txt"), "--recovery-key-file", join(dir, "rk.txt"), ...FAST_KDF_ARGS],
    { STICKVM_PASSPHRASE: "not this one" },
  );
  assert.equal(build.status, 0, build.stderr);
  assert.doesNotMatch(build.stdout, /SVMR-/, "the recovery key went to the file, not the terminal");
  assert.match(await readFile(join(dir, "rk.txt"), "utf8"), /^SVMR-/);
  assert.equal((await stat(join(dir, "rk.txt"))).mode & 0o777, 0o600);

  const ok = makeStick(["verify", "--stick", out, "--json", "--passphrase-file", join(dir, "pass.txt")]);
  assert.equal(ok.status, EXIT.ok, ok.stderr);
  assert.equal((JSON.parse(ok.stdout) as { ok: boolean }).ok, true);

  const viaRecovery = makeStick(["verify", "--stick", out, "--recovery-key-file", join(dir, "rk.txt")]);
  assert.equal(viaRecovery.status, EXIT.ok, viaRecovery.stderr);
  assert.match(viaRecovery.stdout, /stick is good/);

  const wrong = makeStick(["verify", "--stick", out], { STICKVM_PASSPHRASE: "guess" });
  assert.equal(wrong.status, EXIT.wrongPassphrase);
  assert.match(wrong.stderr, /wrong passphrase/);

  const info = makeStick(["info", "--stick", out, "--json"]);
  assert.equal(info.status, 0, info.stderr);
  const parsed = JSON.parse(info.stdout) as { base: { chunks: Record<string, number>; diskSize: number } };
  assert.deepEqual(parsed.base.chunks, { total: 7, zero: 2, referenced: 5, unique: 5 });
  assert.equal(parsed.base.diskSize, 428 * 1024);
  assert.match(makeStick(["info", "--stick", out]).stdout, /dedup .*compression/);

  // damage one chunk: verify names it and exits "damaged"
  const fh = await open(join(out, packFileName(0)), "r+");
  await fh.write(Buffer.from("XXXX"), 0, 4, 200);
  await fh.close();
  const bad = makeStick(["verify", "--stick", out, "--json"], { STICKVM_PASSPHRASE: "from a file" });
  assert.equal(bad.status, EXIT.damagedStick, bad.stderr);
  const report = JSON.parse(bad.stdout) as { ok: boolean; badChunks: { pack: string; offset: number }[] };
  assert.equal(report.ok, false);
  assert.equal(report.badChunks.length, 1);
  assert.equal(report.badChunks[0]?.pack, packFileName(0));
});

test("make-stick reports usage problems with exit code 2", async (t) => {
  const dir = await tempDir(t);
  const { path } = await writeImage(dir, [{ random: 4096 }]);
  const noPass = makeStick(["build", "--image", path, "--out", join(dir, "s"), "--signing-key", join(dir, "k")], { STICKVM_PASSPHRASE: "" });
  assert.equal(noPass.status, EXIT.usage);
  assert.match(noPass.stderr, /passphrase is empty/);

  const noTerminal = makeStick(["verify", "--stick", join(REPO_ROOT, "test", "fixtures", "stick-v1", "stick")], { STICKVM_PASSPHRASE: undefined });
  assert.equal(noTerminal.status, EXIT.usage);
  assert.match(noTerminal.stderr, /no passphrase given.*STICKVM_PASSPHRASE/);

  const chunk = makeStick(["build", "--image", path, "--out", join(dir, "s"), "--signing-key", join(dir, "k"), "--chunk-size", "48K"]);
  assert.equal(chunk.status, EXIT.usage);
  assert.match(chunk.stderr, /power of two/);

  const unknown = makeStick(["frobnicate"]);
  assert.equal(unknown.status, EXIT.usage);

  const notStick = makeStick(["info", "--stick", dir]);
  assert.equal(notStick.status, EXIT.damagedStick);
  assert.match(notStick.stderr, /stick\.hdr is missing/);
});
