import assert from "node:assert/strict";
import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { adminKey, fastBuild, tempDir, writeImage } from "../helpers/sticks.js";

test("build --launchers copies the launcher executables the folder holds to the stick's root, and only those", async (t) => {
  const dir = await tempDir(t);
  const { path: image } = await writeImage(dir, [{ random: 65536 }]);
  const key = await adminKey(dir);
  const launchers = join(dir, "exe");
  await mkdir(launchers);
  await writeFile(join(launchers, "stickvm-linux-x64"), "linux launcher");
  await writeFile(join(launchers, "stickvm-win-x64.exe"), "windows launcher");
  await writeFile(join(launchers, "notes.txt"), "not a launcher");

  const r = await fastBuild({ image, out: join(dir, "stick"), signingKey: key, launchers });
  assert.deepEqual(r.launchers, ["stickvm-linux-x64", "stickvm-win-x64.exe"]);
  const root = await readdir(join(dir, "stick"));
  assert.ok(root.includes("stickvm-linux-x64") && root.includes("stickvm-win-x64.exe"));
  assert.ok(!root.includes("notes.txt") && !root.includes("stickvm-darwin-x64"));
  assert.equal(await readFile(join(dir, "stick", "stickvm-linux-x64"), "utf8"), "linux launcher");
  assert.equal((await stat(join(dir, "stick", "stickvm-linux-x64"))).mode & 0o777, 0o755);

  const empty = join(dir, "empty");
  await mkdir(empty);
  await assert.rejects(fastBuild({ image, out: join(dir, "stick2"), signingKey: key, launchers: empty }), (err: unknown) => {
    assert.ok(err instanceof Error && "code" in err && err.code === "USAGE");
    assert.match(err.message, /holds none of stickvm-linux-x64, .*npm run build:exe/);
    return true;
  });
  assert.deepEqual(await readdir(dir).then((names) => names.filter((n) => n === "stick2")), [], "nothing was written");
  const noBuild = await fastBuild({ image, out: join(dir, "stick3"), signingKey: key });
  assert.deepEqual(noBuild.launchers, []);
});
