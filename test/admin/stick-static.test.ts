import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { STATIC_DIR, STATIC_FILES } from "../../src/admin/stick-static.js";
import { adminKey, fastBuild, haveTool, tempDir, writeImage } from "../helpers/sticks.js";

test("build puts the start wrappers and the README on the stick; run.sh says clearly when the stick has no Linux launcher", async (t) => {
  const dir = await tempDir(t);
  const { path } = await writeImage(dir, [{ random: 64 * 1024 }]);
  const out = join(dir, "stick");
  await fastBuild({ image: path, out, signingKey: await adminKey(dir) });
  for (const name of STATIC_FILES) {
    assert.ok((await readFile(join(out, name))).equals(await readFile(join(STATIC_DIR, name))), `${name} is the repository's copy`);
  }
  assert.equal((await stat(join(out, "run.sh"))).mode & 0o777, 0o755);
  assert.match(await readFile(join(out, "run.cmd"), "utf8"), /^@echo off\r\n/, "run.cmd has CRLF line ends");

  for (const shell of ["sh", "dash", "bash"].filter(haveTool)) {
    const r = spawnSync(shell, [join(out, "run.sh")], { encoding: "utf8" });
    assert.equal(r.status, 1, `${shell}: ${r.stderr}`);
    assert.match(r.stderr, /stickvm-linux-x64 is missing: this stick has no launcher for Linux on x64/, shell);
  }
});
