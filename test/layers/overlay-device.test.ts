import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdir, open, readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { openStick } from "../../src/chunkstore/open-stick.js";
import { ChunkInvalidError, OutOfRangeError } from "../../src/errors/errors.js";
import { BaseDevice } from "../../src/layers/base-device.js";
import type { BlockDevice } from "../../src/layers/block-device.js";
import { EncryptedBlockFile } from "../../src/layers/encrypted-block-file.js";
import { createScratchDevice, OverlayDevice } from "../../src/layers/overlay-device.js";
import { adminKey, fastBuild, PASSPHRASE, tempDir, writeImage } from "../helpers/sticks.js";

/** A small deterministic generator, so a failing sequence can be replayed. */
function rng(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % n;
  };
}

/** Random writes, zeroes, trims and reads, checked against a plain buffer after each step. */
async function exercise(device: BlockDevice, reference: Buffer, seed: number, steps: number): Promise<void> {
  const r = rng(seed);
  for (let step = 0; step < steps; step++) {
    const offset = r(reference.length);
    const length = Math.min(reference.length - offset, 1 + r(r(4) === 0 ? 64 * 1024 : 9000));
    const op = r(10);
    if (op < 5) {
      const data = randomBytes(length);
      await device.write(offset, data, { fua: false });
      data.copy(reference, offset);
    } else if (op < 7) {
      await device.writeZeroes(offset, length, { fua: false });
      reference.fill(0, offset, offset + length);
    } else if (op < 8) {
      await device.trim(offset, length);
      reference.fill(0, offset, offset + length);
    }
    const got = await device.read(offset, length);
    assert.ok(got.equals(reference.subarray(offset, offset + length)), `step ${step}: read ${length} at ${offset}`);
    const into = Buffer.alloc(length, 0xee);
    await device.readInto?.(offset, into);
    assert.ok(into.equals(got), `step ${step}: readInto ${length} at ${offset}`);
  }
  assert.ok((await device.read(0, reference.length)).equals(reference), "whole device");
}

test("the local scratch disk reads back what was written, encrypted on the host", async (t) => {
  const dir = await tempDir(t);
  const size = 3 * 1024 * 1024 + 512;
  const device = await createScratchDevice({ dir, size });
  assert.equal(device.size, size);
  assert.ok((await device.read(0, size)).every((b) => b === 0), "starts as zeros");
  const reference = Buffer.alloc(size);
  await exercise(device, reference, 1, 400);

  const marker = Buffer.from("PLAINTEXT-MARKER-".repeat(300));
  await device.write(12345, marker, { fua: true });
  await device.flush();
  const [file] = await readdir(dir);
  assert.ok(file !== undefined);
  const onDisk = await readFile(join(dir, file));
  assert.equal(onDisk.indexOf("PLAINTEXT-MARKER"), -1, "the host file holds no plaintext");

  await assert.rejects(device.read(size - 10, 11), OutOfRangeError);
  await assert.rejects(device.write(size, Buffer.alloc(1), { fua: false }), OutOfRangeError);
  await device.close();
  assert.deepEqual(await readdir(dir), [], "close removes the scratch file");
});

test("a block changed on the host disk is refused, not served", async (t) => {
  const dir = await tempDir(t);
  const device = await createScratchDevice({ dir, size: 1024 * 1024 });
  t.after(() => device.close());
  await device.write(8192, randomBytes(8192), { fua: false });
  const fh = await open(device.scratchPath, "r+");
  await fh.write(Buffer.from([0xff]), 0, 1, 2 * (4096 + 28) + 100);
  await fh.close();
  await assert.rejects(device.read(8192, 4096), ChunkInvalidError);
  assert.equal((await device.read(12288, 4096)).length, 4096, "other blocks still read");
});

test("block status reports written data, zeroed ranges and untouched space", async (t) => {
  const dir = await tempDir(t);
  const device = await createScratchDevice({ dir, size: 64 * 1024 });
  t.after(() => device.close());
  await device.write(4096, randomBytes(8192), { fua: false });
  await device.writeZeroes(16384, 8192, { fua: false });
  const extents = await device.blockStatus(0, 64 * 1024);
  assert.deepEqual(extents, [
    { length: 4096, hole: true, zero: true },
    { length: 8192, hole: false, zero: false },
    { length: 64 * 1024 - 12288, hole: true, zero: true },
  ]);
  assert.equal((await device.blockStatus(5000, 100)).reduce((n, e) => n + e.length, 0), 100);
});

test("changes over the base: copy-on-write keeps the base intact and reads through it", async (t) => {
  const dir = await tempDir(t);
  const { path, bytes } = await writeImage(dir, [{ random: 5 * 64 * 1024 }, { zeros: 2 * 64 * 1024 }, { random: 1024 }]);
  const out = join(dir, "stick");
  await fastBuild({ image: path, out, signingKey: await adminKey(dir) });
  const stick = await openStick(out, { passphrase: PASSPHRASE });
  t.after(() => stick.close());
  const base = new BaseDevice(stick.base, { cacheBytes: 2 * 64 * 1024 });
  const scratchDir = join(dir, "scratch");
  await mkdir(scratchDir);
  const changes = new OverlayDevice(base, await EncryptedBlockFile.create(scratchDir, "system"));
  assert.ok((await changes.read(0, bytes.length)).equals(bytes), "reads the base through");
  const status = await changes.blockStatus(0, bytes.length);
  assert.deepEqual(
    status.map((e) => [e.length, e.zero]),
    [
      [5 * 64 * 1024, false],
      [2 * 64 * 1024, true],
      [1024, false],
    ],
  );
  const reference = Buffer.from(bytes);
  await exercise(changes, reference, 7, 300);
  assert.ok((await base.read(0, bytes.length)).equals(bytes), "the base is unchanged");
  const packBefore = await stat(join(out, "chunks", "pack-00000000.svp"));
  await changes.close();
  assert.equal((await stat(join(out, "chunks", "pack-00000000.svp"))).mtimeMs, packBefore.mtimeMs);
  assert.deepEqual(await readdir(scratchDir), []);
});
