import assert from "node:assert/strict";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { openStick, type OpenStick } from "../../src/chunkstore/open-stick.js";
import { BaseDevice } from "../../src/layers/base-device.js";
import { UnpackedCache } from "../../src/layers/unpacked-cache.js";
import { adminKey, fastBuild, PASSPHRASE, tempDir, writeImage } from "../helpers/sticks.js";

const CHUNK = 64 * 1024;
const MARKER = Buffer.from("UNPACKED-CACHE-MARKER-7f3a9c");

/** A stick of 12 chunks: 0-3 random, 4-6 zeros, 7-10 a repeat of 0-3, 11 partly random; a marker in each non-zero one. */
async function stick(t: Parameters<typeof tempDir>[0]): Promise<{ dir: string; out: string; bytes: Buffer; opened: OpenStick }> {
  const dir = await tempDir(t);
  const { path, bytes } = await writeImage(dir, [{ random: 4 * CHUNK }, { zeros: 3 * CHUNK }, { repeat: 0 }, { random: CHUNK / 2 + 4096 }]);
  for (let at = 1000; at < bytes.length; at += CHUNK) if (!bytes.subarray(at - 1000, at - 1000 + CHUNK).every((b) => b === 0)) MARKER.copy(bytes, at);
  await writeFile(path, bytes);
  const out = join(dir, "stick");
  await fastBuild({ image: path, out, signingKey: await adminKey(dir) });
  const opened = await openStick(out, { passphrase: PASSPHRASE });
  t.after(() => opened.close());
  return { dir, out, bytes, opened };
}

/** Waits until the cache holds every non-zero chunk of the disk (stores finish in the background). */
async function settled(cache: UnpackedCache, chunks: number[]): Promise<void> {
  for (let i = 0; i < 500 && !chunks.every((c) => cache.has(c)); i++) await sleep(10);
  assert.ok(chunks.every((c) => cache.has(c)), "every chunk read was stored");
}

const RANGES: [number, number][] = [
  [0, 1],
  [CHUNK - 7, 20],
  [3 * CHUNK + 5, 3 * CHUNK], // into and over the zero chunks
  [4 * CHUNK, 3 * CHUNK], // zero chunks only
  [6 * CHUNK - 100, 2 * CHUNK + 300],
];

test("the base reads the same bytes from the unpacked file as from the stick, and keeps serving when the packs are gone", async (t) => {
  const { dir, out, bytes, opened } = await stick(t);
  const cache = await UnpackedCache.create({ dir, size: opened.base.size, chunkSize: CHUNK, budget: 1 << 30, warn: (m) => assert.fail(m) });
  const base = new BaseDevice(opened.base, { cacheBytes: CHUNK, unpacked: cache });
  assert.ok((await base.read(0, bytes.length)).equals(bytes), "first read, from the stick");
  // by position, like the disk: the repeats of chunks 0 to 3 (7 to 10) take their own place
  const stored = [0, 1, 2, 3, 7, 8, 9, 10, 11];
  await settled(cache, stored);
  assert.equal(cache.bytes, stored.length * CHUNK);
  assert.ok(!cache.has(4) && !cache.has(5) && !cache.has(6), "zero chunks are not stored");

  // with the packs overwritten, every read can only come from the unpacked file
  const pack = join(out, "chunks", "pack-00000000.svp");
  const packBytes = await readFile(pack);
  await writeFile(pack, Buffer.alloc(packBytes.length, 0x5a));
  for (const [offset, length] of [...RANGES, [0, bytes.length] as [number, number]]) {
    const want = bytes.subarray(offset, offset + length);
    assert.ok((await base.read(offset, length)).equals(want), `range ${offset}+${length}`);
    const into = Buffer.alloc(length, 0xee);
    await base.readInto(offset, into);
    assert.ok(into.equals(want), `readInto ${offset}+${length}`);
  }

  const file = (await readdir(dir)).find((n) => n.endsWith(".unpacked"));
  assert.ok(file !== undefined);
  assert.ok(!(await readFile(join(dir, file))).includes(MARKER), "the file holds no plaintext");
  await base.close();
  assert.deepEqual((await readdir(dir)).filter((n) => n.endsWith(".unpacked")), [], "close removes the file");
});

test("the unpacked file stays within its budget and the reads past it stay right", async (t) => {
  const { dir, bytes, opened } = await stick(t);
  const cache = await UnpackedCache.create({ dir, size: opened.base.size, chunkSize: CHUNK, budget: 2 * CHUNK, warn: (m) => assert.fail(m) });
  const base = new BaseDevice(opened.base, { cacheBytes: CHUNK, unpacked: cache });
  for (let pass = 0; pass < 2; pass++) {
    for (const [offset, length] of RANGES) {
      const want = bytes.subarray(offset, offset + length);
      assert.ok((await base.read(offset, length)).equals(want), `pass ${pass} range ${offset}+${length}`);
      const into = Buffer.alloc(length, 0xee);
      await base.readInto(offset, into);
      assert.ok(into.equals(want), `pass ${pass} readInto ${offset}+${length}`);
    }
    await sleep(50);
  }
  assert.equal(cache.bytes, 2 * CHUNK);
  assert.equal([0, 1, 2, 3, 7, 8, 9, 10, 11].filter((c) => cache.has(c)).length, 2);
  await base.close();
});

test("a read deciphers just its range: unaligned offsets, across chunks and cipher slices, at the disk's end, and past the reused buffer", async (t) => {
  const dir = await tempDir(t);
  // 20 chunks and a bit: longer than the 1 MiB read buffer, and the disk ends inside the last chunk
  const size = 20 * CHUNK + 1000;
  const disk = randomBytes(size);
  const cache = await UnpackedCache.create({ dir, size, chunkSize: CHUNK, budget: 1 << 30, warn: (m) => assert.fail(m) });
  t.after(() => cache.destroy());
  const chunks = Array.from({ length: 21 }, (_, i) => i);
  // the base hands out whole chunks, the last one padded with zeros
  for (const i of chunks) cache.store(i, Buffer.concat([disk.subarray(i * CHUNK, (i + 1) * CHUNK)], CHUNK));
  await settled(cache, chunks);
  const read = (offset: number, length: number): Buffer => {
    const into = Buffer.alloc(length, 0xee);
    cache.readInto(offset, into);
    return into;
  };
  const ranges: [number, number][] = [
    [0, 1],
    [15, 17],
    [17, 5],
    [16, 64 * 1024 + 1],
    [48 * 1024, 32 * 1024 - 16],
    [CHUNK - 3, 10],
    [CHUNK + 1, 2 * CHUNK],
    [size - 1, 1],
    [size - 17, 17],
    [size - CHUNK - 5, CHUNK + 5],
    [0, size],
    [7, size - 7],
  ];
  for (const [offset, length] of ranges) {
    assert.ok(read(offset, length).equals(disk.subarray(offset, offset + length)), `range ${offset}+${length}`);
  }
  const first = read(100, 50);
  read(200, 50);
  assert.ok(first.equals(disk.subarray(100, 150)), "a later read does not change what an earlier one returned");
});
