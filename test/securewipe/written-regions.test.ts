import assert from "node:assert/strict";
import { link, readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { EncryptedBlockFile } from "../../src/layers/encrypted-block-file.js";
import { WrittenRegions } from "../../src/securewipe/written-regions.js";
import { wipePassesPolicy } from "../../src/policy/wipe-policy.js";
import { tempDir } from "../helpers/sticks.js";

const MiB = 1024 * 1024;

test("written regions are whole MiB grains, in order, neighbours joined", () => {
  const w = new WrittenRegions();
  assert.deepEqual(w.regions(), []);
  w.mark(5 * MiB + 10, 1);
  w.mark(MiB - 1, 2); // straddles grains 0 and 1
  w.mark(6 * MiB, MiB); // joins grain 5
  assert.deepEqual(w.regions(), [{ offset: 0, length: 2 * MiB }, { offset: 5 * MiB, length: 2 * MiB }]);
});

test("a scratch file is wiped where it was written when it is destroyed: truncated through every name, its own name gone", async (t) => {
  const dir = await tempDir(t);
  const f = await EncryptedBlockFile.create(dir, "local");
  await f.write(0, Buffer.alloc(8192, 1));
  await f.write(100_000, Buffer.alloc(4096, 2));
  const witness = join(dir, "witness");
  await link(f.path, witness);
  assert.ok((await stat(witness)).size > 100_000 * 4096);
  await f.destroy();
  assert.equal((await stat(witness)).size, 0);
  assert.deepEqual(await readdir(dir), ["witness"]);
});

test("policy wipePasses: 1 to 35, anything else refused by name", () => {
  const p = (v: unknown): Buffer => Buffer.from(JSON.stringify({ wipePasses: v }));
  assert.equal(wipePassesPolicy(undefined), undefined);
  assert.equal(wipePassesPolicy(Buffer.from("{}")), undefined);
  assert.equal(wipePassesPolicy(p(1)), 1);
  assert.equal(wipePassesPolicy(p(35)), 35);
  for (const bad of [0, 36, 1.5, "3"]) assert.throws(() => wipePassesPolicy(p(bad)), /wipePasses must be a whole number from 1 to 35/);
});
