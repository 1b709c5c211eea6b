import assert from "node:assert/strict";
import { link, mkdir, open, readdir, readFile, stat, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { wipeFile, wipeTree } from "../../src/securewipe/wipe-file.js";
import { tempDir } from "../helpers/sticks.js";

const MiB = 1024 * 1024;

test("wipeFile overwrites a file's data, truncates it through every name it has, and leaves no name behind", async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, "secret");
  await writeFile(path, Buffer.alloc(3 * MiB + 5, 0x41));
  // a second name for the same file shows what happened to its contents
  const witness = join(dir, "witness");
  await link(path, witness);
  assert.equal(await wipeFile(path, 2), 3 * MiB + 5);
  assert.equal((await stat(witness)).size, 0, "truncated");
  assert.deepEqual((await readdir(dir)).sort(), ["witness"], "renamed away and unlinked: no temporary name left");
  assert.equal(await wipeFile(path, 1), 0, "a file already gone is nothing to do");
});

test("wipeFile overwrites only what a sparse file holds, or the regions its owner names", async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, "sparse");
  const fh = await open(path, "w");
  await fh.truncate(64 * MiB);
  await fh.write(Buffer.alloc(MiB, 7), 0, MiB, 10 * MiB);
  await fh.write(Buffer.alloc(4096, 9), 0, 4096, 40 * MiB);
  await fh.close();
  assert.equal(await wipeFile(path, 1), 2 * MiB, "the two 1 MiB blocks that hold data");
  const owned = join(dir, "owned");
  await writeFile(owned, Buffer.alloc(2 * MiB, 1));
  assert.equal(await wipeFile(owned, 1, [{ offset: 4096, length: 8192 }]), 8192);
});

test("wipeTree wipes bottom-up and never follows a symbolic link out of the tree", async (t) => {
  const dir = await tempDir(t);
  const outside = join(dir, "outside");
  await mkdir(outside);
  await writeFile(join(outside, "precious"), "keep me");
  const tree = join(dir, "tree");
  await mkdir(join(tree, "a", "b"), { recursive: true });
  await writeFile(join(tree, "a", "b", "f1"), Buffer.alloc(1000, 1));
  await writeFile(join(tree, "f2"), Buffer.alloc(24, 2));
  await symlink(outside, join(tree, "a", "to-outside"));
  await symlink(join(outside, "precious"), join(tree, "to-precious"));
  const count = await wipeTree(tree, 1);
  assert.deepEqual(count, { files: 4, dirs: 3, bytes: 1024 });
  assert.deepEqual(await readdir(dir), ["outside"]);
  assert.equal(await readFile(join(outside, "precious"), "utf8"), "keep me");
});
