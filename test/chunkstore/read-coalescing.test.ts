import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { open, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { MAX_RUN_CHUNKS } from "../../src/chunkstore/chunk-reader-pool.js";
import { openStick, type OpenStick } from "../../src/chunkstore/open-stick.js";
import { ChunkInvalidError } from "../../src/errors/errors.js";
import { manifestEntry } from "../../stick-layout/manifest.js";
import { adminKey, fastBuild, PASSPHRASE, tempDir, writeImage, type Piece } from "../helpers/sticks.js";
import { openCached } from "../cache/cache-helpers.js";

const CHUNK = 64 * 1024;

async function built(t: TestContext, pieces: Piece[], packLimit?: number): Promise<{ dir: string; out: string; bytes: Buffer }> {
  const dir = await tempDir(t);
  const { path, bytes } = await writeImage(dir, pieces);
  const out = join(dir, "stick");
  await fastBuild({ image: path, out, signingKey: await adminKey(dir), ...(packLimit === undefined ? {} : { packLimit }) });
  return { dir, out, bytes };
}

async function opened(t: TestContext, out: string): Promise<OpenStick> {
  const stick = await openStick(out, { passphrase: PASSPHRASE });
  t.after(() => stick.close());
  return stick;
}

function locOf(stick: OpenStick, index: number): { pack: number; offset: number; length: number } {
  const loc = stick.store.locate(manifestEntry(stick.manifest, index));
  assert.ok(loc !== undefined);
  return loc;
}

/** Each chunk of `indexes` read on its own, all asked for in one turn (as a guest's queue of requests is). */
function readEach(stick: OpenStick, indexes: number[]): Promise<PromiseSettledResult<Buffer>[]> {
  return Promise.allSettled(indexes.map((i) => stick.base.read(i * CHUNK, CHUNK)));
}

test("a 1 MiB read of 16 neighbouring chunks is one read of the stick, cold cache or none", async (t) => {
  const { dir, out, bytes } = await built(t, [{ random: MAX_RUN_CHUNKS * CHUNK }]);
  const plain = await opened(t, out);
  assert.ok((await plain.base.read(0, MAX_RUN_CHUNKS * CHUNK)).equals(bytes));
  const last = locOf(plain, MAX_RUN_CHUNKS - 1);
  assert.deepEqual(plain.stickReads(), { reads: 1, bytes: last.offset + last.length - locOf(plain, 0).offset });

  const cached = await openCached(out, join(dir, "cache"));
  t.after(() => cached.close());
  assert.ok((await cached.base.read(0, MAX_RUN_CHUNKS * CHUNK)).equals(bytes));
  assert.equal(cached.stickReads().reads, 1);
  assert.equal(cached.cache?.snapshot().inserts, MAX_RUN_CHUNKS, "each chunk of the run went into the host cache");
  // now every chunk is a cache hit: no read of the stick at all
  assert.ok((await cached.base.read(0, MAX_RUN_CHUNKS * CHUNK)).equals(bytes));
  assert.equal(cached.stickReads().reads, 1);
});

test("a read longer than a run takes one stick read per run", async (t) => {
  const { out, bytes } = await built(t, [{ random: (MAX_RUN_CHUNKS + 4) * CHUNK }]);
  const stick = await opened(t, out);
  assert.ok((await stick.base.read(0, bytes.length)).equals(bytes));
  assert.equal(stick.stickReads().reads, 2);
});

test("coalesced reads are exact around zero chunks and chunks stored once for two places", async (t) => {
  // chunk 2 is zeros, chunk 4 repeats chunk 0 (its record is the first of the run)
  const pieces: Piece[] = [{ random: 2 * CHUNK }, { zeros: CHUNK }, { random: CHUNK }, { repeat: 0 }, { random: CHUNK }];
  const { out, bytes } = await built(t, pieces);
  const stick = await opened(t, out);
  const whole = await stick.base.read(100, bytes.length - 300);
  assert.ok(whole.equals(bytes.subarray(100, bytes.length - 200)));
  assert.equal(stick.stickReads().reads, 1);
});

test("a record in a small gap is read through; one a whole chunk away is read apart", async (t) => {
  const dir = await tempDir(t);
  // chunk 1 compresses to a few bytes, so chunks 0 and 2 are near; chunk 3 is a whole record after 2
  const bytes = Buffer.concat([randomBytes(CHUNK), Buffer.alloc(CHUNK, 7), randomBytes(2 * CHUNK)]);
  const path = join(dir, "image.raw");
  await writeFile(path, bytes);
  const out = join(dir, "stick");
  await fastBuild({ image: path, out, signingKey: await adminKey(dir) });
  const stick = await opened(t, out);
  const near = await readEach(stick, [0, 2]);
  assert.deepEqual(near.map((r) => r.status), ["fulfilled", "fulfilled"]);
  assert.ok(near[0]?.status === "fulfilled" && near[0].value.equals(bytes.subarray(0, CHUNK)));
  assert.ok(near[1]?.status === "fulfilled" && near[1].value.equals(bytes.subarray(2 * CHUNK, 3 * CHUNK)));
  assert.equal(stick.stickReads().reads, 1);
  assert.ok(locOf(stick, 2).offset - (locOf(stick, 0).offset + locOf(stick, 0).length) < 1024, "chunk 1's record is small");

  const again = await opened(t, out);
  const far = await readEach(again, [1, 3]);
  assert.deepEqual(far.map((r) => r.status), ["fulfilled", "fulfilled"]);
  assert.equal(again.stickReads().reads, 2);
});

test("a range over two packs is read right, one read per pack", async (t) => {
  // a 1 MiB pack holds 15 incompressible chunks
  const { out, bytes } = await built(t, [{ random: 20 * CHUNK }], 1024 * 1024);
  const stick = await opened(t, out);
  assert.equal(locOf(stick, 19).pack, 1);
  const from = 10 * CHUNK + 5;
  assert.ok((await stick.base.read(from, 8 * CHUNK)).equals(bytes.subarray(from, from + 8 * CHUNK)));
  assert.equal(stick.stickReads().reads, 2);
});

test("a damaged record inside a run fails only its chunk; a truncated pack only the chunks past its end", async (t) => {
  const { out, bytes } = await built(t, [{ random: 6 * CHUNK }]);
  const bad = await opened(t, out);
  const loc = locOf(bad, 2);
  const fh = await open(join(out, "chunks", "pack-00000000.svp"), "r+");
  await fh.write(Buffer.from([0x42]), 0, 1, loc.offset + loc.length - 20);
  await fh.close();
  const results = await readEach(bad, [0, 1, 2, 3, 4, 5]);
  assert.equal(bad.stickReads().reads, 1);
  results.forEach((r, i) => {
    if (i === 2) {
      assert.ok(r.status === "rejected" && r.reason instanceof ChunkInvalidError, `chunk 2 is ${r.status}`);
      assert.match((r.reason as Error).message, new RegExp(`pack-00000000\\.svp offset ${loc.offset} is damaged`));
    } else assert.ok(r.status === "fulfilled" && r.value.equals(bytes.subarray(i * CHUNK, (i + 1) * CHUNK)), `chunk ${i}`);
  });

  const last = locOf(bad, 5);
  await truncate(join(out, "chunks", "pack-00000000.svp"), last.offset + 10);
  const cut = await opened(t, out);
  const after = await readEach(cut, [3, 4, 5]);
  assert.deepEqual(after.map((r) => r.status), ["fulfilled", "fulfilled", "rejected"]);
  assert.ok(after[2]?.status === "rejected" && /truncated/.test(String(after[2].reason)));
  assert.equal(cut.stickReads().reads, 1);
});
