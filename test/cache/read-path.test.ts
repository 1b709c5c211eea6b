import assert from "node:assert/strict";
import { readdir, readFile, stat, truncate, unlink, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { test } from "node:test";
import { META_FILE } from "../../src/cache/cache-meta.js";
import { entryPath } from "../../src/cache/entry-files.js";
import type { OpenStick } from "../../src/chunkstore/open-stick.js";
import { tempDir } from "../helpers/sticks.js";
import { baseIds, CHUNK, cacheStick, openCached, range, readInOrder } from "./cache-helpers.js";

function cacheOf(s: OpenStick): NonNullable<OpenStick["cache"]> {
  return s.cache ?? assert.fail("no host cache");
}

async function entryFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(join(dir, "chunks"), { recursive: true, withFileTypes: true })) if (e.isFile()) out.push(e.name);
  return out.sort();
}

test("bad entries while a session runs (flipped, truncated, deleted, emptied): reads stay right, each is read again from the stick and stored again", async (t) => {
  const { stick, bytes, dir } = await cacheStick(t, 8);
  const warnings: string[] = [];
  const s = await openCached(stick, join(dir, "cache"), warnings);
  t.after(() => s.close());
  const cache = cacheOf(s);
  assert.ok(cache.isOn);
  assert.ok((await s.base.read(0, bytes.length)).equals(bytes));
  assert.deepEqual({ ...cache.snapshot(), heldBytes: 0, boundBytes: 0 }, { ...cache.snapshot(), hits: 0, misses: 8, inserts: 8, badEntries: 0, heldBytes: 0, boundBytes: 0 });

  const [a, b, c, d] = baseIds(s).map((id) => entryPath(cache.dir, id));
  assert.ok(a !== undefined && b !== undefined && c !== undefined && d !== undefined);
  const flipped = await readFile(a);
  flipped[100] = (flipped[100] ?? 0) ^ 0x10;
  await writeFile(a, flipped);
  await truncate(b, (await stat(b)).size - 1);
  await unlink(c);
  await truncate(d, 0);

  assert.ok((await s.base.read(0, bytes.length)).equals(bytes));
  let st = cache.snapshot();
  assert.equal(st.badEntries, 4);
  assert.equal(st.hits, 4);
  assert.equal(st.misses, 12);
  assert.match(warnings.join("\n"), /a host cache entry was bad .*removed and read from the stick again/);
  assert.equal(warnings.length, 1, "later bad entries are only counted");
  // stored again: the third pass is all hits
  assert.ok((await s.base.read(0, bytes.length)).equals(bytes));
  st = cache.snapshot();
  assert.equal(st.hits, 12);
  assert.equal(st.misses, 12);
  await cache.evictionsDone();
  assert.equal((await entryFiles(cache.dir)).length, 8);
});

test("eviction: a session reading twice the bound stays under it, and the chunks read first (the boot set) are what is kept", async (t) => {
  const { stick, bytes, dir } = await cacheStick(t, 32, { cacheSize: 16 * CHUNK, host: "trusted" });
  const s = await openCached(stick, join(dir, "cache"));
  t.after(() => s.close());
  const cache = cacheOf(s);
  const ids = baseIds(s);
  await readInOrder(s, bytes, range(32));
  // the boot chunks again, then the rest again: LRU alone would have evicted the boot set by now
  await readInOrder(s, bytes, range(32).slice(8));
  const st = cache.snapshot();
  assert.equal(st.boundBytes, 16 * CHUNK);
  assert.ok(st.heldBytes <= st.boundBytes, `${st.heldBytes} > ${st.boundBytes}`);
  assert.ok(st.evictions >= 16, `${st.evictions} evictions`);
  await cache.evictionsDone();
  let onDisk = 0;
  for (const name of await entryFiles(cache.dir)) onDisk += (await stat(join(cache.dir, "chunks", name.slice(0, 2), name))).size;
  assert.ok(onDisk <= st.boundBytes, `${onDisk} bytes on disk`);
  const held = new Set(await entryFiles(cache.dir));
  // the boot set is the first chunks read, as many as half the bound holds for sure
  const boot = Math.floor((8 * CHUNK) / (CHUNK + 29));
  assert.equal(boot, 7);
  for (const i of range(boot)) assert.ok(held.has(ids[i]?.toString("hex") ?? ""), `boot chunk ${i} was evicted`);
});

test("trusted keeps the cache and the next session reads from it; kiosk (the default) removes it at close", async (t) => {
  const trusted = await cacheStick(t, 6, { host: "trusted" });
  const root = join(trusted.dir, "cache");
  let s = await openCached(trusted.stick, root);
  await s.base.read(0, trusted.bytes.length);
  const dir = cacheOf(s).dir;
  await s.close();
  assert.equal((await entryFiles(dir)).length, 6);
  await stat(join(dir, META_FILE));
  s = await openCached(trusted.stick, root);
  assert.ok((await s.base.read(0, trusted.bytes.length)).equals(trusted.bytes));
  const st = cacheOf(s).snapshot();
  await s.close();
  assert.equal(st.hits, 6);
  assert.equal(st.misses, 0);

  const kiosk = await cacheStick(t, 6);
  const kioskRoot = join(kiosk.dir, "cache");
  s = await openCached(kiosk.stick, kioskRoot);
  await s.base.read(0, kiosk.bytes.length);
  assert.equal((await entryFiles(cacheOf(s).dir)).length, 6);
  await s.close();
  await assert.rejects(stat(kioskRoot), { code: "ENOENT" }, "the cache folder, and its root with no other stick in it, are gone");
});

test("two sticks on one host: a folder each, not named after the stick id, each holding only its own chunks, both read right", async (t) => {
  const root = await tempDir(t);
  const one = await cacheStick(t, 4, { host: "trusted" });
  const two = await cacheStick(t, 5, { host: "trusted" });
  const [s1, s2] = await Promise.all([openCached(one.stick, root), openCached(two.stick, root)]);
  t.after(() => s1.close());
  t.after(() => s2.close());
  const [r1, r2] = await Promise.all([s1.base.read(0, one.bytes.length), s2.base.read(0, two.bytes.length)]);
  assert.ok(r1.equals(one.bytes) && r2.equals(two.bytes));
  const d1 = cacheOf(s1).dir;
  const d2 = cacheOf(s2).dir;
  assert.notEqual(d1, d2);
  assert.deepEqual((await readdir(root)).sort(), [basename(d1), basename(d2)].sort());
  for (const s of [s1, s2]) assert.ok(!cacheOf(s).dir.includes(s.header.stickId.toString("hex").slice(0, 16)));
  assert.deepEqual(await entryFiles(d1), baseIds(s1).map((id) => id.toString("hex")).sort());
  assert.deepEqual(await entryFiles(d2), baseIds(s2).map((id) => id.toString("hex")).sort());
});

test("a damaged cache index: a clear warning, an emptied cache, and the session reads from the stick", async (t) => {
  const { stick, bytes, dir } = await cacheStick(t, 4, { host: "trusted" });
  const root = join(dir, "cache");
  let s = await openCached(stick, root);
  await s.base.read(0, bytes.length);
  const cacheDir = cacheOf(s).dir;
  await s.close();
  for (const damage of [(b: Buffer) => b.subarray(0, b.length - 5), (b: Buffer) => Buffer.concat([b.subarray(0, 20), Buffer.from([(b[20] ?? 0) ^ 1]), b.subarray(21)]), () => Buffer.from("not an index")]) {
    const meta = join(cacheDir, META_FILE);
    await writeFile(meta, damage(await readFile(meta)));
    const warnings: string[] = [];
    s = await openCached(stick, root, warnings);
    assert.match(warnings.join("\n"), /the host cache's index .*index\.bin is damaged \(.+\): the cache was emptied/);
    assert.equal(cacheOf(s).snapshot().heldBytes, 0);
    assert.deepEqual(await entryFiles(cacheDir), []);
    assert.ok((await s.base.read(0, bytes.length)).equals(bytes));
    assert.equal(cacheOf(s).snapshot().misses, 4);
    await s.close();
  }
});
