import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import { openStick } from "../../src/chunkstore/open-stick.js";
import { EXIT } from "../../src/cli/exit-codes.js";
import { adminKey, FAST_KDF_ARGS, haveTool, MAKE_STICK, tempDir, writeImage } from "../helpers/sticks.js";

/** Runs make-stick build on a pseudo-terminal (util-linux `script`), typing `answers` at its prompts. */
function buildOnTerminal(args: string[], answers: string[]): Promise<{ code: number | null; output: string }> {
  const env: Record<string, string | undefined> = { ...process.env };
  delete env.STICKVM_PASSPHRASE;
  const command = [process.execPath, MAKE_STICK, "build", ...args].map((a) => `'${a}'`).join(" ");
  const child = spawn("script", ["-qec", command, "/dev/null"], { env, stdio: ["pipe", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (d: Buffer) => (output += d.toString()));
  let typed = 0;
  child.stdout.on("data", () => {
    // answer each prompt once it has been shown
    const prompts = (output.match(/Passphrase( again)?: /g) ?? []).length;
    while (typed < prompts && typed < answers.length) child.stdin.write(`${answers[typed++] ?? ""}\n`);
  });
  return new Promise((resolve) => child.on("close", (code) => {
    resolve({ code, output });
  }));
}

const noScript = haveTool("script") ? false : "util-linux script is not installed";

test("the passphrase is asked twice on a terminal, without echo", { skip: noScript }, async (t) => {
  const dir = await tempDir(t);
  const { path } = await writeImage(dir, [{ random: 64 * 1024 }]);
  const key = await adminKey(dir);

  const out = join(dir, "stick");
  const ok = await buildOnTerminal(["--image", path, "--out", out, "--signing-key", key, ...FAST_KDF_ARGS], ["typed secret", "typed secret"]);
  assert.equal(ok.code, 0, ok.output);
  assert.doesNotMatch(ok.output, /typed secret/, "the passphrase is not echoed");
  const stick = await openStick(out, { passphrase: "typed secret" });
  await stick.close();

  const differ = await buildOnTerminal(["--image", path, "--out", join(dir, "other"), "--signing-key", key, ...FAST_KDF_ARGS], ["one", "two"]);
  assert.equal(differ.code, EXIT.usage, differ.output);
  assert.match(differ.output, /the two passphrases differ/);
});
