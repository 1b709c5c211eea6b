import assert from "node:assert/strict";
import { test } from "node:test";
import type { BlockDevice } from "../../../src/layers/block-device.js";
import { createLogDevice, openLogDevice } from "../../../src/layers/log/log.js";
import { tempDir } from "../../helpers/sticks.js";
import { BLOCK, KEY, prng } from "./helpers.js";
import { MemFiles } from "../../../scripts/crash/mem-files.js";

// Random writes, zeroing, trims, reads and reopens against a reference buffer (fixed seed).

const SIZE = 256 * BLOCK + 1536; // a partial last block
const SEGMENT = 128 * 1024;

async function exercise(dev0: BlockDevice, reopen: () => Promise<BlockDevice>, seed: number, steps: number): Promise<void> {
  let dev = dev0;
  const ref = Buffer.alloc(SIZE);
  const rnd = prng(seed);
  const range = (max: number): [number, number] => {
    const offset = rnd(SIZE);
    return [offset, Math.min(SIZE - offset, 1 + rnd(max))];
  };
  for (let step = 0; step < steps; step++) {
    const r = rnd(100);
    if (r < 50) {
      const [offset, length] = range(rnd(4) === 0 ? 96 * 1024 : 9000);
      const data = Buffer.alloc(length);
      for (let i = 0; i < length; i++) data[i] = rnd(256);
      await dev.write(offset, data, { fua: rnd(10) === 0 });
      data.copy(ref, offset);
    } else if (r < 58) {
      const [offset, length] = range(40000);
      await dev.writeZeroes(offset, length, { fua: false });
      ref.fill(0, offset, offset + length);
    } else if (r < 64) {
      const [offset, length] = range(40000);
      await dev.trim(offset, length);
      ref.fill(0, offset, offset + length);
    } else if (r < 90) {
      const [offset, length] = range(70000);
      assert.ok((await dev.read(offset, length)).equals(ref.subarray(offset, offset + length)), `step ${step}: read ${length} at ${offset}`);
    } else if (r < 97) {
      await dev.flush();
    } else {
      await dev.close();
      dev = await reopen();
    }
  }
  assert.ok((await dev.read(0, SIZE)).equals(ref), "whole disk at the end");
  await dev.close();
  const again = await reopen();
  assert.ok((await again.read(0, SIZE)).equals(ref), "whole disk after reopening");
  await again.close();
}

test("random I/O matches a reference buffer, in memory", async () => {
  const files = new MemFiles();
  const dev = await createLogDevice({ dir: "/log", key: KEY, size: SIZE, segmentBytes: SEGMENT, files });
  await exercise(dev, () => openLogDevice({ dir: "/log", key: KEY, files }), 1234, 3000);
});

test("random I/O matches a reference buffer, on real files, across reopens", async (t) => {
  const dir = await tempDir(t);
  const dev = await createLogDevice({ dir: `${dir}/user`, key: KEY, size: SIZE, segmentBytes: SEGMENT });
  await exercise(dev, () => openLogDevice({ dir: `${dir}/user`, key: KEY }), 99, 600);
});

test("boundaries: size−1, size, size+1; empty requests; unwritten blocks read as zeros", async () => {
  const files = new MemFiles();
  const dev = await createLogDevice({ dir: "/log", key: KEY, size: SIZE, segmentBytes: SEGMENT, files });
  assert.equal(dev.size, SIZE);
  assert.ok((await dev.read(0, SIZE)).equals(Buffer.alloc(SIZE)));
  await dev.write(SIZE - 1, Buffer.from([0xaa]), { fua: false });
  assert.deepEqual([...(await dev.read(SIZE - 2, 2))], [0, 0xaa]);
  assert.equal((await dev.read(SIZE, 0)).length, 0);
  await dev.write(SIZE, Buffer.alloc(0), { fua: false });
  await assert.rejects(dev.read(SIZE, 1), { code: "OUT_OF_RANGE" });
  await assert.rejects(dev.write(SIZE - 1, Buffer.alloc(2), { fua: false }), { code: "OUT_OF_RANGE" });
  await assert.rejects(dev.trim(-1, 1), { code: "OUT_OF_RANGE" });
  await dev.close();
});

test("blockStatus: data, zero and never-written extents, merged", async () => {
  const files = new MemFiles();
  const dev = await createLogDevice({ dir: "/log", key: KEY, size: 16 * BLOCK, segmentBytes: SEGMENT, files });
  await dev.write(2 * BLOCK, Buffer.alloc(2 * BLOCK, 1), { fua: false });
  await dev.write(4 * BLOCK, Buffer.alloc(BLOCK, 2), { fua: false });
  await dev.trim(3 * BLOCK, BLOCK);
  assert.deepEqual(await dev.blockStatus?.(BLOCK, 5 * BLOCK), [
    { length: BLOCK, hole: true, zero: true },
    { length: BLOCK, hole: false, zero: false },
    { length: BLOCK, hole: true, zero: true },
    { length: BLOCK, hole: false, zero: false },
    { length: BLOCK, hole: true, zero: true },
  ]);
  await dev.close();
});

test("a lower device shows through never-written blocks, and not through zeroed ones", async () => {
  const lowerFiles = new MemFiles();
  const lower = await createLogDevice({ dir: "/lower", key: KEY, size: 8 * BLOCK, segmentBytes: SEGMENT, files: lowerFiles });
  await lower.write(0, Buffer.alloc(8 * BLOCK, 0x55), { fua: false });
  const files = new MemFiles();
  const dev = await createLogDevice({ dir: "/log", key: KEY, size: 10 * BLOCK, segmentBytes: SEGMENT, files, lower });
  await dev.write(BLOCK + 100, Buffer.alloc(10, 0x11), { fua: false });
  await dev.writeZeroes(3 * BLOCK, BLOCK, { fua: false });
  const all = await dev.read(0, 10 * BLOCK);
  const want = Buffer.alloc(10 * BLOCK, 0x55);
  want.fill(0x11, BLOCK + 100, BLOCK + 110);
  want.fill(0, 3 * BLOCK, 4 * BLOCK);
  want.fill(0, 8 * BLOCK); // past the lower device's end
  assert.ok(all.equals(want));
  // never-written blocks answer with the lower device's extents, one run at a time
  assert.deepEqual(await dev.blockStatus?.(0, 3 * BLOCK), [{ length: BLOCK, hole: false, zero: false }]);
  assert.deepEqual(await dev.blockStatus?.(BLOCK, 3 * BLOCK), [{ length: BLOCK, hole: false, zero: false }]);
  assert.deepEqual(await dev.blockStatus?.(3 * BLOCK, 2 * BLOCK), [{ length: BLOCK, hole: true, zero: true }]);
  assert.deepEqual(await dev.blockStatus?.(8 * BLOCK, 2 * BLOCK), [{ length: 2 * BLOCK, hole: true, zero: true }]);
  await dev.close();
  await lower.close();
});
