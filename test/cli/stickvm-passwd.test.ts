import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFile, rm, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { STICK_FILES } from "../../stick-layout/format.js";
import { openStick } from "../../src/chunkstore/open-stick.js";
import { EXIT } from "../../src/cli/exit-codes.js";
import { LOCK_FILE } from "../../src/serve/stick-lock.js";
import { STICKVM } from "../helpers/serve.js";
import { stickvm } from "../helpers/stickvm.js";
import { adminKey, fastBuild, haveTool, PASSPHRASE, tempDir, writeImage } from "../helpers/sticks.js";

async function stickWithFiles(t: { after: (fn: () => Promise<void>) => void }): Promise<{ dir: string; stick: string; rk: string }> {
  const dir = await tempDir(t);
  const { path } = await writeImage(dir, [{ random: 64 * 1024 }]);
  const stick = join(dir, "stick");
  const rk = join(dir, "rk.txt");
  await fastBuild({ image: path, out: stick, signingKey: await adminKey(dir), recoveryKeyFile: rk });
  await writeFile(join(dir, "old.txt"), `${PASSPHRASE}\n`);
  await writeFile(join(dir, "new.txt"), "the new one\n");
  await writeFile(join(dir, "wrong.txt"), "not it\n");
  return { dir, stick, rk };
}

async function opensWith(stick: string, passphrase: string): Promise<boolean> {
  try {
    await (await openStick(stick, { passphrase })).close();
    return true;
  } catch {
    return false;
  }
}

test("stickvm passwd: files for both passphrases, the recovery key instead of the old one; wrong passphrase, missing stick, stick in use and no new passphrase change nothing", async (t) => {
  const { dir, stick, rk } = await stickWithFiles(t);
  const slots = join(stick, STICK_FILES.keyslots);
  const before = await readFile(slots);
  const unchanged = async (what: string): Promise<void> => {
    assert.ok((await readFile(slots)).equals(before), `${what}: keyslots.bin unchanged`);
  };

  const wrong = stickvm(["passwd", "--stick", stick, "--passphrase-file", join(dir, "wrong.txt"), "--new-passphrase-file", join(dir, "new.txt")]);
  assert.equal(wrong.status, EXIT.wrongPassphrase, wrong.stderr);
  assert.match(wrong.stderr, /wrong passphrase: .*nothing was changed/);
  await unchanged("wrong passphrase");

  const missing = stickvm(["passwd", "--stick", join(dir, "nope"), "--new-passphrase-file", join(dir, "new.txt")]);
  assert.equal(missing.status, EXIT.usage);
  assert.match(missing.stderr, /no stick at .*nope: the folder does not exist/);

  await writeFile(join(stick, LOCK_FILE), JSON.stringify({ pid: process.pid, host: hostname(), startedMs: Date.now() }));
  const busy = stickvm(["passwd", "--stick", stick, "--new-passphrase-file", join(dir, "new.txt")]);
  assert.equal(busy.status, EXIT.usage);
  assert.match(busy.stderr, /the stick is in use by process \d+/);
  await unchanged("stick in use");
  await rm(join(stick, LOCK_FILE));

  // spawnSync gives no terminal: without the file there is nobody to ask
  const noNew = stickvm(["passwd", "--stick", stick]);
  assert.equal(noNew.status, EXIT.usage);
  assert.match(noNew.stderr, /no new passphrase given: use --new-passphrase-file FILE/);
  await unchanged("no new passphrase");

  const ok = stickvm(["passwd", "--stick", stick, "--passphrase-file", join(dir, "old.txt"), "--new-passphrase-file", join(dir, "new.txt")], { STICKVM_PASSPHRASE: undefined });
  assert.equal(ok.status, EXIT.ok, ok.stderr);
  assert.match(ok.stdout, /the passphrase was changed; the recovery key still opens the stick/);
  assert.equal(await opensWith(stick, "the new one"), true);
  assert.equal(await opensWith(stick, PASSPHRASE), false);

  const forgot = stickvm(["passwd", "--stick", stick, "--recovery-key-file", rk, "--new-passphrase-file", join(dir, "old.txt")], { STICKVM_PASSPHRASE: undefined });
  assert.equal(forgot.status, EXIT.ok, forgot.stderr);
  assert.equal(await opensWith(stick, PASSPHRASE), true);
  assert.equal(await opensWith(stick, "the new one"), false);
});

/** Runs stickvm passwd on a pseudo-terminal (util-linux `script`), the old passphrase in the environment, typing `answers` at its prompts. */
function passwdOnTerminal(stick: string, answers: string[]): Promise<{ code: number | null; output: string }> {
  const command = [process.execPath, STICKVM, "passwd", "--stick", stick].map((a) => `'${a}'`).join(" ");
  const child = spawn("script", ["-qec", command, "/dev/null"], { env: { ...process.env, STICKVM_PASSPHRASE: PASSPHRASE }, stdio: ["pipe", "pipe", "pipe"] });
  let output = "";
  let typed = 0;
  child.stdout.on("data", (d: Buffer) => {
    output += d.toString();
    const prompts = (output.match(/New passphrase( again)?: /g) ?? []).length;
    while (typed < prompts && typed < answers.length) child.stdin.write(`${answers[typed++] ?? ""}\n`);
  });
  return new Promise((resolve) => child.on("close", (code) => {
    resolve({ code, output });
  }));
}

test("stickvm passwd asks for the new passphrase twice on a terminal, without echo", { skip: haveTool("script") ? false : "util-linux script is not installed" }, async (t) => {
  const { stick } = await stickWithFiles(t);
  const differ = await passwdOnTerminal(stick, ["one", "two"]);
  assert.equal(differ.code, EXIT.usage, differ.output);
  assert.match(differ.output, /the two passphrases differ/);
  assert.equal(await opensWith(stick, PASSPHRASE), true);

  const ok = await passwdOnTerminal(stick, ["typed anew", "typed anew"]);
  assert.equal(ok.code, EXIT.ok, ok.output);
  assert.doesNotMatch(ok.output, /typed anew/, "the new passphrase is not echoed");
  assert.equal(await opensWith(stick, "typed anew"), true);
});
