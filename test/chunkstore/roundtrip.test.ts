import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { openStick } from "../../src/chunkstore/open-stick.js";
import { UsageError } from "../../src/errors/errors.js";
import { adminKey, fastBuild, PASSPHRASE, tempDir, writeImage, type Piece } from "../helpers/sticks.js";

const CHUNK = 64 * 1024;

test("every byte of a mixed image reads back equal; zeros and repeats are not stored twice", async (t) => {
  const dir = await tempDir(t);
  const key = await adminKey(dir);
  // 0: 5 random chunks, 1: 3 zero chunks, 2: repeat of 0, 3: a partial random chunk, 4: zeros up to a sector
  const { path, bytes } = await writeImage(dir, [
    { random: 5 * CHUNK },
    { zeros: 3 * CHUNK },
    { repeat: 0 },
    { random: CHUNK / 2 },
    { zeros: CHUNK / 2 - 4096 },
  ]);
  const out = join(dir, "stick");
  const r = await fastBuild({ image: path, out, signingKey: key });
  assert.equal(r.chunks.total, 14);
  assert.equal(r.chunks.zero, 3);
  assert.equal(r.chunks.duplicate, 5);
  assert.equal(r.chunks.unique, 6);

  const stick = await openStick(out, { passphrase: PASSPHRASE });
  t.after(() => stick.close());
  assert.equal(stick.base.size, bytes.length);
  assert.ok((await stick.base.read(0, bytes.length)).equals(bytes), "whole image");
  // ranges that start and end inside chunks and cross zero and repeated chunks
  for (const [offset, length] of [
    [0, 1],
    [CHUNK - 1, 2],
    [3 * CHUNK + 17, 4 * CHUNK],
    [bytes.length - 1, 1],
    [bytes.length, 0],
    [7 * CHUNK - 512, 1024],
  ] as const) {
    assert.ok((await stick.base.read(offset, length)).equals(bytes.subarray(offset, offset + length)), `range ${offset}+${length}`);
  }
  await assert.rejects(stick.base.read(bytes.length - 1, 2), UsageError);
  await assert.rejects(stick.base.read(-1, 1), UsageError);
});

const boundaries: { name: string; pieces: Piece[]; chunks: number }[] = [
  { name: "chunk size - 512", pieces: [{ random: CHUNK - 512 }], chunks: 1 },
  { name: "chunk size", pieces: [{ random: CHUNK }], chunks: 1 },
  { name: "chunk size + 512", pieces: [{ random: CHUNK + 512 }], chunks: 2 },
  { name: "one sector", pieces: [{ random: 512 }], chunks: 1 },
  { name: "all zeros", pieces: [{ zeros: 3 * CHUNK + 512 }], chunks: 4 },
];

for (const b of boundaries) {
  test(`image of ${b.name} round-trips`, async (t) => {
    const dir = await tempDir(t);
    const { path, bytes } = await writeImage(dir, b.pieces);
    const out = join(dir, "stick");
    const r = await fastBuild({ image: path, out, signingKey: await adminKey(dir) });
    assert.equal(r.chunks.total, b.chunks);
    const stick = await openStick(out, { passphrase: PASSPHRASE });
    t.after(() => stick.close());
    assert.equal(stick.base.size, bytes.length);
    assert.ok((await stick.base.read(0, bytes.length)).equals(bytes));
  });
}

for (const chunkSize of [4096, 16 * 1024, 1024 * 1024]) {
  test(`chunk size ${chunkSize} round-trips`, async (t) => {
    const dir = await tempDir(t);
    const { path, bytes } = await writeImage(dir, [{ random: 3 * chunkSize + 512 }, { zeros: chunkSize }, { repeat: 0 }]);
    const out = join(dir, "stick");
    await fastBuild({ image: path, out, signingKey: await adminKey(dir), chunkSize });
    const stick = await openStick(out, { passphrase: PASSPHRASE });
    t.after(() => stick.close());
    assert.equal(stick.manifest.chunkSize, chunkSize);
    assert.ok((await stick.base.read(0, bytes.length)).equals(bytes));
  });
}

for (const chunkSize of [0, 1000, 3 * 4096, 2048, 8 * 1024 * 1024, 64 * 1024 + 1]) {
  test(`chunk size ${chunkSize} is refused before anything is written`, async (t) => {
    const dir = await tempDir(t);
    const { path } = await writeImage(dir, [{ random: 4096 }]);
    const out = join(dir, "stick");
    await assert.rejects(fastBuild({ image: path, out, signingKey: await adminKey(dir), chunkSize }), /chunk size must be a power of two/);
  });
}

test("a small pack limit spreads chunks over several packs and they still read back", async (t) => {
  const dir = await tempDir(t);
  const { path, bytes } = await writeImage(dir, [{ random: 40 * CHUNK }]);
  const out = join(dir, "stick");
  const r = await fastBuild({ image: path, out, signingKey: await adminKey(dir), packLimit: 1024 * 1024 });
  assert.ok(r.packs >= 3, `expected several packs, got ${r.packs}`);
  const stick = await openStick(out, { passphrase: PASSPHRASE });
  t.after(() => stick.close());
  assert.ok((await stick.base.read(0, bytes.length)).equals(bytes));
});

test("compressible chunks are stored smaller, incompressible ones not larger than chunk + overhead", async (t) => {
  const dir = await tempDir(t);
  const text = Buffer.from("the quick brown fox jumps over the lazy dog\n".repeat(1500)).subarray(0, CHUNK);
  const path = join(dir, "image.raw");
  await writeFile(path, Buffer.concat([text, Buffer.from(text.map((b) => b ^ 1)), randomBytes(CHUNK)]));
  const r = await fastBuild({ image: path, out: join(dir, "stick"), signingKey: await adminKey(dir) });
  assert.equal(r.chunks.unique, 3);
  assert.ok(r.storedBytes < CHUNK + 2 * 4096, `stored ${r.storedBytes}`);
  assert.ok(r.storedBytes > CHUNK, "the random chunk is stored whole");
});
