// The guest builds' cache: a build is made once per hash and appears whole or not at all.
import assert from "node:assert/strict";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { test } from "node:test";
import { cachedBuild, contentHash } from "../../src/demo/build-cache.js";
import { tempDir } from "../helpers/sticks.js";

test("cachedBuild makes a build once per hash and publishes it as NAME-HASH", async (t) => {
  const cache = await tempDir(t);
  let made = 0;
  const make = async (_work: string, out: string): Promise<string> => {
    made++;
    await writeFile(join(out, "kernel"), `build ${made}`);
    return "linux-image-x_1";
  };
  const first = await cachedBuild(cache, "aaaa", make);
  assert.equal(basename(first), "linux-image-x_1-aaaa");
  assert.equal(await cachedBuild(cache, "aaaa", make), first);
  assert.equal(made, 1);
  const other = await cachedBuild(cache, "bbbb", make);
  assert.equal(await readFile(join(other, "kernel"), "utf8"), "build 2");
  assert.deepEqual((await readdir(cache)).sort(), ["linux-image-x_1-aaaa", "linux-image-x_1-bbbb"]);
});

test("a failed build leaves nothing in the cache, and the next call builds again", async (t) => {
  const cache = await tempDir(t);
  await assert.rejects(cachedBuild(cache, "aaaa", async (_work, out) => {
    await writeFile(join(out, "kernel"), "half");
    throw new Error("download failed");
  }), /download failed/);
  assert.deepEqual(await readdir(cache), []);
  const dir = await cachedBuild(cache, "aaaa", () => Promise.resolve("k"));
  assert.equal(basename(dir), "k-aaaa");
});

test("contentHash tells apart parts that only differ in where one ends", () => {
  assert.notEqual(contentHash(["ab", "c"]), contentHash(["a", "bc"]));
  assert.equal(contentHash(["ab", Buffer.from("c")]), contentHash(["ab", "c"]));
  assert.match(contentHash([]), /^[0-9a-f]{12}$/);
});
