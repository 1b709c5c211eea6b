import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, readdir } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { canExecuteIn, createRunFolder, runFolderCandidates } from "../../src/run/run-folder.js";
import { tempDir } from "../helpers/sticks.js";

const make = (base: string): Promise<string> => mkdtemp(join(base, "stickvm-run-"));

test("run folder candidates: RAM-backed folders first on Linux, the temp folder last", () => {
  const linux = runFolderCandidates({ XDG_RUNTIME_DIR: "/run/user/1000" }, "linux");
  assert.deepEqual(linux.slice(0, 3), ["/run/user/1000", "/dev/shm", "/run/shm"]);
  assert.equal(linux.length, 4);
  assert.deepEqual(runFolderCandidates({}, "linux").slice(0, 2), ["/dev/shm", "/run/shm"]);
  assert.equal(runFolderCandidates({ XDG_RUNTIME_DIR: "/x" }, "darwin").length, 1);
});

test("createRunFolder skips a missing folder and one that fails the check; says what it tried when none will do", async (t) => {
  const dir = await tempDir(t);
  const bad = join(dir, "bad");
  const good = join(dir, "good");
  await mkdir(bad);
  await mkdir(good);
  const made = await createRunFolder([join(dir, "missing"), bad, good], make, (d) => Promise.resolve(d.startsWith(good)));
  assert.ok(made.startsWith(join(good, "stickvm-run-")), made);
  assert.deepEqual(await readdir(bad), [], "the rejected folder's attempt is removed");
  await assert.rejects(createRunFolder([join(dir, "missing"), bad], make, () => Promise.resolve(false)), /tried .*missing .*bad \(programs cannot run there\)/);
});

const root = process.getuid?.() === 0;
test("canExecuteIn: true in the temp folder, false on a noexec mount", { skip: root ? false : "mounting a noexec tmpfs needs root" }, async (t) => {
  const dir = await tempDir(t);
  assert.equal(await canExecuteIn(dir), true);
  const mnt = join(dir, "noexec");
  await mkdir(mnt);
  assert.equal(spawnSync("mount", ["-t", "tmpfs", "-o", "noexec,size=1m", "tmpfs", mnt]).status, 0);
  try {
    assert.equal(await canExecuteIn(mnt), false);
  } finally {
    spawnSync("umount", [mnt]);
  }
});
